//! Parse and lint throughput of the format core. Run: `cargo bench -p mta-sts-core --bench parse`.
//! Results are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mta_sts_core::{
    MxPattern, Policy, StsRecord, TlsRptRecord, policy_lint, report, report_lint, tlsrpt_datagram,
};

const POLICY: &[u8] = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
const BROKEN_POLICY: &[u8] = b"version: STSv1\nmode: enforced\n  mx: mail.acme.test\nmx: 192.0.2.25\nnmx: backup.acme.test\nmax_age: 60480\nid: 20260101T000000\n";
const REPORT: &[u8] = include_bytes!("../tests/fixtures/reports/rfc8460-example.json");
/// What Postfix sends through libtlsrpt for one delivery under an MTA-STS policy.
const DATAGRAM: &[u8] = br#"{"d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: enforce","mx: mail.example.com","max_age: 86400"],"mx-host":["mail.example.com"],"t":0,"f":0}]}"#;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Bytes(POLICY.len() as u64));
    group.bench_function("parse (RFC example)", |b| {
        b.iter(|| Policy::parse(black_box(POLICY)))
    });
    group.bench_function("lint (7 mistakes)", |b| {
        b.iter(|| policy_lint::lint(black_box(BROKEN_POLICY)))
    });
    group.finish();

    let mut group = c.benchmark_group("record");
    group.bench_function("sts parse", |b| {
        b.iter(|| StsRecord::parse(black_box("v=STSv1; id=20160831085700Z;")))
    });
    group.bench_function("tlsrpt parse", |b| {
        b.iter(|| {
            TlsRptRecord::parse(black_box(
                "v=TLSRPTv1; rua=mailto:reports@example.com,https://r.example.com/v1",
            ))
        })
    });
    group.finish();

    let pattern = MxPattern::parse("*.example.net").expect("valid pattern");
    c.bench_function("mx match (wildcard)", |b| {
        b.iter(|| pattern.matches(black_box("MX1.Example.NET.")))
    });

    let mut group = c.benchmark_group("report");
    group.throughput(Throughput::Bytes(REPORT.len() as u64));
    group.bench_function("read (RFC example)", |b| {
        b.iter(|| report::read(black_box(REPORT)))
    });
    group.bench_function("strict lint (RFC example)", |b| {
        b.iter(|| report_lint::lint(black_box(REPORT)))
    });
    group.finish();

    // The collector's per-datagram parse: its budget at 100,000 datagrams/s is 10 µs, all in.
    let mut group = c.benchmark_group("tlsrpt datagram");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse (STS success)", |b| {
        b.iter(|| tlsrpt_datagram::parse(black_box(DATAGRAM)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the 2-core CI machine runs these only when asked; numbers go to BENCHMARKS.md.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
