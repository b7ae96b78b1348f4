//! Which addresses are worth a GeoIP lookup.
//!
//! Private, loopback, link-local, multicast, documentation, benchmarking and other reserved
//! ranges have no location: looking them up would only cost time (and a database that has
//! data for them, by mistake or as a local override, would put a place on an internal host).
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4
//! client) are looked up as the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address to look up for `ip`, or `None` when it is in a range without a location.
#[inline]
pub(super) fn lookup_address(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => public_v4(v4).then_some(ip),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4).then_some(IpAddr::V4(v4)),
            None => public_v6(v6).then_some(ip),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // 0.0.0.0/8 "this network", including the unspecified address
        || a == 10 // 10.0.0.0/8 private
        || (a == 100 && b & 0xc0 == 64) // 100.64.0.0/10 carrier-grade NAT
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local
        || (a == 172 && b & 0xf0 == 16) // 172.16.0.0/12 private
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 168) // private
        || (a == 198 && b & 0xfe == 18) // 198.18.0.0/15 benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast 224.0.0.0/4, reserved 240.0.0.0/4, broadcast
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(s[0] & 0xff00 == 0 // ::/8: unspecified, loopback, IPv4-compatible, NAT64, reserved
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64 discard-only
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // 2001:2::/48 benchmarking
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x3fff && s[1] & 0xf000 == 0) // 3fff::/20 documentation
        || s[0] & 0xfe00 == 0xfc00 // fc00::/7 unique local
        || s[0] & 0xffc0 == 0xfe80 // fe80::/10 link-local
        || s[0] & 0xffc0 == 0xfec0 // fec0::/10 site-local (deprecated)
        || s[0] & 0xff00 == 0xff00) // ff00::/8 multicast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(addr: &str) -> Option<String> {
        lookup_address(addr.parse().unwrap()).map(|ip| ip.to_string())
    }

    #[test]
    fn public_addresses_are_looked_up() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "81.2.69.142",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.0.3.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "198.51.101.1",
            "203.0.112.1",
            "223.255.255.255",
            "2a02:c7f::1",
            "2001:4860:4860::8888",
            "2001:db9::1",
            "2001:3::1",
            "3fff:1000::1",
            "fbff::1",
            "2002:808:808::1",
        ] {
            assert_eq!(check(addr).as_deref(), Some(addr), "{addr}");
        }
    }

    #[test]
    fn reserved_ranges_are_skipped() {
        for addr in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.10.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.44",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.23",
            "203.0.113.7",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "100::1",
            "2001:2::1",
            "2001:db8::1",
            "2001:db8:85a3::8a2e:370:7334",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:192.0.2.1",
        ] {
            assert_eq!(check(addr), None, "{addr}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_become_ipv4() {
        assert_eq!(check("::ffff:81.2.69.142").as_deref(), Some("81.2.69.142"));
        assert_eq!(check("::ffff:8.8.8.8").as_deref(), Some("8.8.8.8"));
    }
}
