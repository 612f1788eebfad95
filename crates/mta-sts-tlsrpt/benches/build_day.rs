//! How long a day's reports take to build: `cargo bench -p mta-sts-tlsrpt --bench build_day`.
//! A busy MTA's day: 10,000 recipient domains, each with an MTA-STS policy, a few with
//! failures. Results are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mta_sts_core::SessionCounts;
use mta_sts_core::report::{
    AppliedPolicy, FailureDetail, PolicyResult, PolicyType, ResultType, Summary,
};
use mta_sts_core::time::UtcDate;
use mta_sts_tlsrpt::report_builder::{BuildSettings, build_day};

const DOMAINS: usize = 10_000;

fn day_counts() -> Vec<SessionCounts> {
    (0..DOMAINS)
        .map(|n| {
            let domain = format!("d{n}.example");
            let failures: Vec<FailureDetail> = (0..n % 4)
                .map(|k| FailureDetail {
                    result_type: ResultType::CertificateExpired,
                    sending_mta_ip: Some("192.0.2.1".into()),
                    receiving_mx_hostname: Some(format!("mx{k}.{domain}")),
                    receiving_mx_helo: None,
                    receiving_ip: Some(format!("198.51.100.{k}")),
                    failed_session_count: 1 + k as u64,
                    additional_information: None,
                    failure_reason_code: Some("certificate has expired".into()),
                })
                .collect();
            SessionCounts {
                tlsrpt_record: format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"),
                result: PolicyResult {
                    policy: AppliedPolicy {
                        policy_type: PolicyType::Sts,
                        policy_string: vec![
                            "version: STSv1".into(),
                            "mode: enforce".into(),
                            format!("mx: mx.{domain}"),
                            "max_age: 604800".into(),
                        ],
                        policy_domain: Some(domain.clone()),
                        mx_host: vec![format!("mx.{domain}")],
                    },
                    summary: Summary {
                        total_successful_session_count: 100,
                        total_failure_session_count: failures
                            .iter()
                            .map(|f| f.failed_session_count)
                            .sum(),
                    },
                    failure_details: failures,
                },
                domain,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let counts = day_counts();
    let day = UtcDate::parse("2026-12-06").expect("a date");
    let settings = BuildSettings {
        organization_name: "Example Mail".into(),
        contact_info: "postmaster@mail.example.net".into(),
        ..BuildSettings::default()
    };
    let mut group = c.benchmark_group("build_day");
    group.sample_size(10);
    group.throughput(Throughput::Elements(DOMAINS as u64));
    group.bench_function("10,000 domains", |b| {
        b.iter(|| build_day(black_box(day), black_box(&counts), &settings))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
