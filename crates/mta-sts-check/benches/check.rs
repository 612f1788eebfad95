//! Wall time of full checks against the lab on loopback, and of starting the lab itself.
//! Run: `cargo bench -p mta-sts-check --bench check`; results go to BENCHMARKS.md.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mta_sts_check::{Checker, NetSettings};
use mta_sts_lab::Lab;
use mta_sts_net::{AddressGuard, Trust};

/// Generated healthy domains checked per iteration of the throughput benchmark.
const BULK: usize = 200;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lab = runtime
        .block_on(Lab::start_with(mta_sts_lab::catalog(), BULK))
        .expect("lab");
    let checker = Checker::from_settings(&NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_secs(2),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    })
    .expect("checker");

    let healthy = lab
        .scenario("healthy-enforce")
        .expect("scenario")
        .domain
        .clone();
    c.bench_function("check/one healthy domain (DNS, HTTPS, SMTP)", |b| {
        b.iter(|| runtime.block_on(checker.check(&healthy)))
    });

    let mut group = c.benchmark_group("check/bulk");
    group.throughput(Throughput::Elements(BULK as u64));
    group.sample_size(10);
    let domains: Vec<String> = lab.generated().iter().map(|s| s.domain.clone()).collect();
    group.bench_function(format!("{BULK} generated domains, 50 at a time"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                for chunk in domains.chunks(50) {
                    futures_util::future::join_all(chunk.iter().map(|d| checker.check(d))).await;
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("lab/start");
    group.sample_size(10);
    group.bench_function("default catalog", |b| {
        b.iter(|| runtime.block_on(async { Lab::start().await.expect("lab").shutdown().await }))
    });
    group.bench_function("catalog + 2000 generated domains", |b| {
        b.iter(|| {
            runtime.block_on(async {
                Lab::start_with(mta_sts_lab::catalog(), 2000)
                    .await
                    .expect("lab")
                    .shutdown()
                    .await
            })
        })
    });
    group.finish();
    runtime.block_on(lab.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
