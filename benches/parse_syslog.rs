//! `syslog` parser throughput on one thread, in lines per second: each line is copied into a
//! fresh event and parsed, as a worker does (allocating the event's `raw` is part of the cost).
//!
//! Floor (release, one core): >= 800,000 lines/s for both `syslog/rfc5424` and `syslog/rfc3164`.
//!
//! ```sh
//! cargo bench --bench parse_syslog -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use logpipe::parse::ParserOptions;

mod common;
use common::{bench_lines, parser};

/// A mix like a relay's traffic: most messages without structured data, some with one or two
/// elements (one with escapes), microsecond and millisecond times, numeric and text PROCIDs.
const RFC5424_LINES: &[&str] = &[
    r#"<30>1 2026-11-22T10:00:00.104233Z web-02 nginx 1432 - - worker process 1433 exited with code 0"#,
    r#"<134>1 2026-11-22T10:00:01.512Z api-01.example.internal checkout-api 2817 http.access [meta requestId="7f3a9c2e-1b4d" route="/api/v1/cart"][timeQuality tzKnown="1" isSynced="1"] GET /api/v1/cart 200 12ms"#,
    r#"<11>1 2026-11-22T10:00:02.44+01:00 db-01 postgres 5512 - - FATAL:  password authentication failed for user "report""#,
    r#"<38>1 2026-11-22T10:00:03Z web-02 sshd 31020 - - Accepted publickey for deploy from 192.0.2.44 port 40022 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4"#,
    r#"<86>1 2026-11-22T10:00:04.5Z web-02 CRON worker-7 - - pam_unix(cron:session): session closed for user www-data"#,
    r#"<133>1 2026-11-22T10:00:05.250-05:00 edge-lb haproxy - - [meta backend="api" note="queue \"full\" at \] 95%"] backend api has no server available!"#,
    r#"<14>1 2026-11-22T10:00:06.000001Z db-01 postgres 5512 - - connection received: host=10.0.0.2 port=51522"#,
    r#"<165>1 2026-11-22T10:00:07.003Z mymachine.example.com evntslog - ID47 - An application event log entry"#,
];

/// What rsyslog writes to files and what devices send over UDP: BSD and RFC 3339 times, with
/// and without `<PRI>`, tags with and without pid, no hostname, and a header-less message.
const RFC3164_LINES: &[&str] = &[
    r#"Nov 22 10:00:00 web-01 sshd[20211]: Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2"#,
    r#"<38>Nov 22 10:00:01 web-02 sshd[31020]: pam_unix(sshd:session): session opened for user deploy(uid=1002) by (uid=0)"#,
    r#"Nov 22 10:00:02 web-01 CRON[20290]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"#,
    r#"<22>Nov  2 10:00:03 mail-01 postfix/smtpd[8812]: connect from unknown[198.51.100.150]"#,
    r#"Nov 22 10:00:04 web-01 kernel: [1840223.512209] nvme nvme0: I/O 512 QID 3 timeout, aborting"#,
    r#"2026-11-22T10:00:05.114508+00:00 db-01 systemd[1]: Starting PostgreSQL Cluster 16-main..."#,
    r#"<13>Nov 22 10:00:06 backup-job[7781]: nightly snapshot started for volume data-01"#,
    r#"<189>2412: *Nov 22 10:00:07.912: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)"#,
];

fn syslog(c: &mut Criterion) {
    let syslog = parser("syslog", &ParserOptions::default());
    bench_lines(c, "syslog", "rfc5424", syslog.as_ref(), RFC5424_LINES);
    bench_lines(c, "syslog", "rfc3164", syslog.as_ref(), RFC3164_LINES);
}

criterion_group!(benches, syslog);
criterion_main!(benches);
