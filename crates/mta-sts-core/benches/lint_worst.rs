//! The linters and their human rendering on the worst inputs of their size: every 64 KiB policy
//! must lint and render in under 50 ms, as text and as JSON. Run:
//! `cargo bench -p mta-sts-core --bench lint_worst`. Results are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mta_sts_core::lint_text::{self, Source};
use mta_sts_core::policy_lint::{self, MAX_POLICY_SIZE};
use mta_sts_core::report_lint;

/// Repeats `piece` up to exactly `size` bytes (the last copy cut).
fn filled(head: &str, piece: &str, size: usize) -> Vec<u8> {
    let mut body = head.as_bytes().to_vec();
    while body.len() < size {
        body.extend_from_slice(piece.as_bytes());
    }
    body.truncate(size);
    body
}

/// Deterministic noise (xorshift), so every run lints the same bytes.
fn noise(size: usize, mask: u8) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0] & mask
        })
        .collect()
}

fn policies() -> Vec<(&'static str, Vec<u8>)> {
    const HEAD: &str = "version: STSv1\nmode: enforce\nmax_age: 604800\n";
    let mut binary = b"\x7fELF\x02\x01\x01\x00".to_vec();
    binary.extend(noise(MAX_POLICY_SIZE - binary.len(), 0xff));
    vec![
        ("blank lines", filled("", "\n", MAX_POLICY_SIZE)),
        (
            "one long line (mx with many hosts)",
            filled("mx: ", "mx.example.com,", MAX_POLICY_SIZE),
        ),
        (
            "mx lines (each a repeat)",
            filled(HEAD, "mx: mail.example.com\n", MAX_POLICY_SIZE),
        ),
        ("binary (ELF header, random bytes)", binary),
        ("binary (7-bit control bytes)", noise(MAX_POLICY_SIZE, 0x7f)),
    ]
}

/// A report on one line whose 1,000 failure details each carry an unknown member.
fn one_line_report() -> Vec<u8> {
    let detail = r#"{"result-type":"certificate-expired","failed-session-count":1,"x-extra":1}"#;
    let details = vec![detail; 1_000].join(",");
    format!(
        r#"{{"organization-name":"o","date-range":{{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"}},"contact-info":"c","report-id":"r","policies":[{{"policy":{{"policy-type":"no-policy-found","policy-domain":"example.com"}},"summary":{{"total-successful-session-count":0,"total-failure-session-count":1000}},"failure-details":[{details}]}}]}}"#
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("worst 64 KiB policy");
    group.throughput(Throughput::Bytes(MAX_POLICY_SIZE as u64));
    for (name, body) in policies() {
        let source = Source {
            name: "policy.txt",
            bytes: &body,
            single_line: false,
            stopped_after: None,
        };
        group.bench_with_input(BenchmarkId::new("lint + text", name), &body, |b, body| {
            b.iter(|| {
                let lint = policy_lint::lint(black_box(body));
                lint_text::render(&source, &lint, "verdict", false)
            })
        });
        group.bench_with_input(BenchmarkId::new("lint + JSON", name), &body, |b, body| {
            b.iter(|| {
                let lint = policy_lint::lint(black_box(body));
                // As the CLI does: streamed to its output, here a sink.
                serde_json::to_writer_pretty(std::io::sink(), &lint)
            })
        });
    }
    group.finish();

    let report = one_line_report();
    let source = Source {
        name: "report.json",
        bytes: &report,
        single_line: false,
        stopped_after: None,
    };
    let mut group = c.benchmark_group("report on one line, 1,000 diagnostics");
    group.throughput(Throughput::Bytes(report.len() as u64));
    group.bench_function("lint + text", |b| {
        b.iter(|| {
            let lint = report_lint::lint(black_box(&report));
            lint_text::render(&source, &lint, "verdict", false)
        })
    });
    group.bench_function("lint + JSON", |b| {
        b.iter(|| {
            let lint = report_lint::lint(black_box(&report));
            serde_json::to_writer_pretty(std::io::sink(), &lint)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the 2-core machine runs these only when asked; numbers go to BENCHMARKS.md.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2)).sample_size(20);
    targets = bench
}
criterion_main!(benches);
