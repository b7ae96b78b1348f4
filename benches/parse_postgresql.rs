//! `postgresql` parser throughput on one thread, in entries per second: each iteration turns
//! realistic entries into fresh events the way a worker does (allocating the event's `raw` is
//! part of the cost). Multi-line entries count once, as the input hands them over joined.
//!
//! Run: `cargo bench --bench parse_postgresql -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion};
use logpipe::parse::ParserOptions;

mod common;
use common::{bench_lines, parser};

/// The server's default prefix `%m [%p] ` (and Debian's `%m [%p] %q%u@%d `), read without
/// configuration.
const STDERR_DEFAULT: &[&str] = &[
    "2026-11-22 10:00:00.123 UTC [1030] LOG:  checkpoint complete: wrote 2731 buffers (16.7%); 0 WAL file(s) added, 0 removed, 2 recycled; write=27.106 s, sync=0.031 s, total=27.212 s; sync files=48, longest=0.009 s, average=0.001 s; distance=21844 kB, estimate=21844 kB; lsn=0/5A1C2F8, redo lsn=0/4F3B110",
    "2026-11-22 10:00:01.881 UTC [1412] LOG:  connection authorized: user=shop_app database=shop application_name=checkout-api SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)",
    "2026-11-22 10:00:02.010 CET [2355] shop_app@shop ERROR:  duplicate key value violates unique constraint \"orders_pkey\"\n2026-11-22 10:00:02.010 CET [2355] shop_app@shop DETAIL:  Key (id)=(90211) already exists.\n2026-11-22 10:00:02.010 CET [2355] shop_app@shop STATEMENT:  INSERT INTO orders (id, customer_id, total) VALUES (90211, 4411, 129.90);",
    "2026-11-22 10:00:03.553 UTC [1530] FATAL:  password authentication failed for user \"reporting\"",
];

/// `log_min_duration_statement` output: duration, step and statement, multi-line statements
/// with the server's tab indentation.
const STDERR_DURATION: &[&str] = &[
    "2026-11-22 10:00:00.402 UTC [1412] LOG:  duration: 1532.418 ms  statement: SELECT o.id, o.total, c.email\n\tFROM orders o\n\tJOIN customers c ON c.id = o.customer_id\n\tWHERE o.created_at > now() - interval '7 days'\n\tORDER BY o.total DESC\n\tLIMIT 50;",
    "2026-11-22 10:00:00.518 UTC [1412] LOG:  duration: 312.884 ms  execute S_1: SELECT id, status FROM shipments WHERE order_id = $1\n2026-11-22 10:00:00.518 UTC [1412] DETAIL:  parameters: $1 = '90177'",
    "2026-11-22 10:00:00.611 UTC [1413] LOG:  duration: 0.412 ms  statement: SELECT 1",
    "2026-11-22 10:00:00.702 UTC [1414] shop_app@shop LOG:  duration: 41.007 ms  bind <unnamed>: UPDATE stock SET qty = qty - $1 WHERE sku = $2",
];

const CSVLOG: &[&str] = &[
    "2026-11-22 00:02:40.771 UTC,\"shop_app\",\"shop\",3101,\"10.0.4.21:51514\",6b0230c8.c1d,3,\"SELECT\",2026-11-22 00:01:12 UTC,12/14,0,LOG,00000,\"duration: 1204.331 ms  statement: SELECT id, total\nFROM orders\nWHERE note = 'say \"\"hi\"\"'\nORDER BY id DESC LIMIT 20;\",,,,,,,,,\"checkout-api\",\"client backend\",,-3451526071224355012",
    "2026-11-22 00:03:05.220 UTC,\"shop_app\",\"shop\",3101,\"10.0.4.21:51514\",6b0230c8.c1d,4,\"INSERT\",2026-11-22 00:01:12 UTC,12/15,8815601,ERROR,23505,\"duplicate key value violates unique constraint \"\"orders_pkey\"\"\",\"Key (id)=(90211) already exists.\",,,,,\"INSERT INTO orders (id, customer_id, total) VALUES (90211, 4411, 129.90);\",,,\"checkout-api\",\"client backend\",,6104113745082215227",
    "2026-11-22 00:05:00.031 UTC,,,1030,,6b023080.406,1,,2026-11-22 00:00:00 UTC,,0,LOG,00000,\"checkpoint starting: time\",,,,,,,,,,\"checkpointer\",,",
    "2026-11-22 00:01:12.009 UTC,\"shop_app\",\"shop\",3101,\"10.0.4.21:51514\",6b0230c8.c1d,2,\"authentication\",2026-11-22 00:01:12 UTC,12/1,0,LOG,00000,\"connection authorized: user=shop_app database=shop application_name=checkout-api\",,,,,,,,,\"checkout-api\",\"client backend\",,0",
];

const JSONLOG: &[&str] = &[
    r#"{"timestamp":"2026-11-22 01:02:40.771 CET","user":"shop_app","dbname":"shop","pid":4101,"remote_host":"10.0.4.21","remote_port":51514,"session_id":"6b0230c8.1005","line_num":3,"ps":"SELECT","session_start":"2026-11-22 01:01:12 CET","vxid":"12/14","txid":0,"error_severity":"LOG","message":"duration: 2044.918 ms  statement: SELECT c.id, c.email\nFROM customers c\nWHERE c.created_at > now() - interval '1 day';","application_name":"checkout-api","backend_type":"client backend","query_id":-3451526071224355012}"#,
    r#"{"timestamp":"2026-11-22 01:03:05.220 CET","user":"shop_app","dbname":"shop","pid":4101,"remote_host":"10.0.4.21","remote_port":51514,"session_id":"6b0230c8.1005","line_num":4,"ps":"INSERT","session_start":"2026-11-22 01:01:12 CET","vxid":"12/15","txid":8816001,"error_severity":"ERROR","state_code":"23505","message":"duplicate key value violates unique constraint \"orders_pkey\"","detail":"Key (id)=(90311) already exists.","statement":"INSERT INTO orders (id, customer_id, total) VALUES (90311, 4411, 59.00);","application_name":"checkout-api","backend_type":"client backend","query_id":6104113745082215227}"#,
    r#"{"timestamp":"2026-11-22 01:05:00.031 CET","pid":1030,"session_id":"6b023080.406","line_num":1,"session_start":"2026-11-22 01:00:00 CET","txid":0,"error_severity":"LOG","message":"checkpoint starting: time","backend_type":"checkpointer","query_id":0}"#,
    r#"{"timestamp":"2026-11-22 01:01:12.009 CET","user":"shop_app","dbname":"shop","pid":4101,"remote_host":"10.0.4.21","remote_port":51514,"session_id":"6b0230c8.1005","line_num":2,"ps":"authentication","session_start":"2026-11-22 01:01:12 CET","vxid":"12/1","txid":0,"error_severity":"LOG","message":"connection authorized: user=shop_app database=shop application_name=checkout-api","application_name":"checkout-api","backend_type":"client backend","query_id":0}"#,
];

fn postgresql(c: &mut Criterion) {
    let pg = parser("postgresql", &ParserOptions::default());
    bench_lines(
        c,
        "postgresql",
        "stderr_default",
        pg.as_ref(),
        STDERR_DEFAULT,
    );
    bench_lines(
        c,
        "postgresql",
        "stderr_duration_statement",
        pg.as_ref(),
        STDERR_DURATION,
    );
    bench_lines(c, "postgresql", "csvlog", pg.as_ref(), CSVLOG);
    bench_lines(c, "postgresql", "jsonlog", pg.as_ref(), JSONLOG);
}

criterion_group!(benches, postgresql);
criterion_main!(benches);
