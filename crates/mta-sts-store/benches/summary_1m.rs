//! The report store with 1,000,000 reports: how fast they go in (batches of 1,000, as intake
//! sends them), how long the 30-day summary of one domain takes, and what one dashboard page
//! of a domain asks the store (its 30-day evidence, its 50 newest reports, the overview of every
//! domain), on SQLite and PostgreSQL. Targets: the summary under 100 ms on both, the dashboard
//! page's queries well under 200 ms together; intake at 10,000 reports/s or more into SQLite.
//!
//! Run (release build; PostgreSQL only when `MTA_STS_TEST_POSTGRES` names a server, which gets
//! a database of its own, dropped after):
//! `cargo bench -p mta-sts-store --bench summary_1m`
//! `MTA_STS_BENCH_REPORTS=N` changes the number of reports, `MTA_STS_BENCH_BACKENDS=sqlite`
//! (or `postgres`) runs one backend, `MTA_STS_BENCH_POSTGRES_URL=URL` fills that database
//! instead of a temporary one and keeps it (to look at query plans afterwards), and
//! `MTA_STS_BENCH_SQLITE_PATH=FILE` does the same with an SQLite file; a kept store that already
//! holds reports is not filled again, only its queries are timed. Results are recorded in
//! BENCHMARKS.md.
//!
//! The reports are `mta_sts_store::test_support::bulk`'s year (500 domains, 40 organisations,
//! Zipf-distributed, as a receiving side sees them), stored day after day as a year of intake
//! would; the 20,000 inserted into the full store are the next day's.

use std::time::{Duration, Instant};

use mta_sts_core::report::Timestamp;
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::{
    DomainsQuery, EvidenceQuery, ListQuery, NewReport, ReportStore, SummaryQuery,
};
use mta_sts_store::test_support::bulk::{BATCH, BulkReports, LAST_DAY, domain};
use mta_sts_store::test_support::{TempDir, TestDatabase};

fn timestamp(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds).expect("in range")
}

/// CPU time (user + system) this process has used: from /proc/self/stat, in clock ticks of
/// 1/100 s (USER_HZ, 100 on Linux everywhere). On a shared machine, reports per CPU second say
/// what an idle machine would do better than the wall clock.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks =
        |index: usize| -> u64 { fields.get(index).and_then(|f| f.parse().ok()).unwrap_or(0) };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn rate(reports: usize, elapsed: Duration) -> f64 {
    reports as f64 / elapsed.as_secs_f64()
}

/// Fills `store` with `total` reports, printing the insert rate.
async fn fill(store: &ReportStore, total: usize) {
    let mut generator = BulkReports::year(total as u64);
    let mut inserting = Duration::ZERO;
    let mut cpu = Duration::ZERO;
    let mut window = Duration::ZERO;
    let mut done = 0;
    while done < total {
        let count = BATCH.min(total - done);
        let batch: Vec<NewReport> = (0..count).map(|_| generator.report()).collect();
        let started = Instant::now();
        let cpu_started = cpu_time();
        store.insert(batch).await.expect("insert");
        let elapsed = started.elapsed();
        cpu += cpu_time().saturating_sub(cpu_started);
        inserting += elapsed;
        window += elapsed;
        done += count;
        if done % 100_000 == 0 || done == total {
            println!(
                "  {done:>9} reports stored; the last 100,000 at {:.0} reports/s",
                rate(100_000.min(done), window)
            );
            window = Duration::ZERO;
        }
    }
    println!(
        "  insert: {total} reports in {:.1} s of inserting, {:.0} reports/s overall (batches of {BATCH}); \
         {:.1} s of CPU, {:.0} reports per CPU second",
        inserting.as_secs_f64(),
        rate(total, inserting),
        cpu.as_secs_f64(),
        rate(total, cpu)
    );
}

/// Times the summary of `domain` over the last 30 days: the first (cold) call, then the median,
/// 95th percentile and maximum of 30 more.
async fn time_summary(store: &ReportStore, domain: &str, label: &str) {
    let query = SummaryQuery {
        domain: domain.into(),
        from: timestamp(LAST_DAY - 29 * 86_400),
        to: timestamp(LAST_DAY),
    };
    let started = Instant::now();
    let summary = store.summary(&query).await.expect("summary");
    let cold = started.elapsed();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        std::hint::black_box(store.summary(&query).await.expect("summary"));
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  30-day summary of {domain} ({label}: {} reports, {} days): first {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        summary.total.reports,
        summary.days.len(),
        ms(cold),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        ms(times[times.len() - 1]),
    );
}

/// Times what one dashboard page of `domain` asks the store: the evidence over the last 30
/// days, the 50 newest reports of the domain, and the overview of every domain (its counts over
/// the same 30 days), one after the other as a page handler would; the first (cold) page, then
/// the median, 95th percentile and maximum of 30 more, in total and per query (medians).
async fn time_dashboard_page(store: &ReportStore, domain: &str, label: &str) {
    let from = timestamp(LAST_DAY - 29 * 86_400);
    let evidence = EvidenceQuery {
        domain: domain.into(),
        from,
        to: timestamp(LAST_DAY),
    };
    let newest = ListQuery {
        domain: Some(domain.into()),
        limit: Some(50),
        newest_first: true,
        ..ListQuery::default()
    };
    let overview = DomainsQuery { since: from };
    let mut pages: Vec<[Duration; 3]> = Vec::new();
    let mut sizes = (0, 0, 0);
    for _ in 0..31 {
        let started = Instant::now();
        let found = store.evidence(&evidence).await.expect("evidence");
        let evidence_time = started.elapsed();
        let started = Instant::now();
        let listed = store.list(&newest).await.expect("list");
        let list_time = started.elapsed();
        let started = Instant::now();
        let domains = store.domains(&overview).await.expect("domains");
        let domains_time = started.elapsed();
        sizes = (found.summary.total.reports, listed.len(), domains.len());
        std::hint::black_box((found, listed, domains));
        pages.push([evidence_time, list_time, domains_time]);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total = |page: &[Duration; 3]| page.iter().sum::<Duration>();
    let cold = total(&pages[0]);
    let mut warm: Vec<[Duration; 3]> = pages[1..].to_vec();
    let median_of = |part: usize, warm: &mut Vec<[Duration; 3]>| {
        warm.sort_by_key(|page| page[part]);
        warm[warm.len() / 2][part]
    };
    let parts = [
        median_of(0, &mut warm),
        median_of(1, &mut warm),
        median_of(2, &mut warm),
    ];
    warm.sort_by_key(total);
    println!(
        "  dashboard page of {domain} ({label}: evidence of {} reports, {} newest, {} domains): \
         first {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms; medians: evidence {:.1} ms, \
         newest 50 {:.1} ms, domains {:.1} ms",
        sizes.0,
        sizes.1,
        sizes.2,
        ms(cold),
        ms(total(&warm[warm.len() / 2])),
        ms(total(&warm[warm.len() * 95 / 100])),
        ms(total(&warm[warm.len() - 1])),
        ms(parts[0]),
        ms(parts[1]),
        ms(parts[2]),
    );
}

async fn summaries(store: &ReportStore) {
    time_summary(store, &domain(0), "the largest domain").await;
    time_summary(store, &domain(20), "a mid-sized domain").await;
    time_summary(store, &domain(400), "a small domain").await;
    time_dashboard_page(store, &domain(0), "the largest domain").await;
    time_dashboard_page(store, &domain(20), "a mid-sized domain").await;
    time_dashboard_page(store, &domain(400), "a small domain").await;
}

async fn run(url: &StoreUrl, total: usize, postgres_url: Option<&str>) {
    let store = ReportStore::open(url).await.expect("open");
    let kept = ListQuery {
        limit: Some(1),
        ..ListQuery::default()
    };
    if !store.list(&kept).await.expect("list").is_empty() {
        // A kept store filled by an earlier run: time the queries again, add nothing.
        println!("  already filled by an earlier run: timing the queries only");
        summaries(&store).await;
        return;
    }
    let started = Instant::now();
    fill(&store, total).await;
    println!("  filled in {:.1} s", started.elapsed().as_secs_f64());
    summaries(&store).await;
    if let Some(postgres_url) = postgres_url {
        // What autovacuum does on its own some time after a bulk load: the visibility map
        // lets the covering indexes answer without visiting the table.
        let (client, connection) = tokio_postgres::connect(postgres_url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        // Fresh statistics alone (what an ANALYZE after large batches would give), before the
        // visibility map is set: is the plan or the heap visits the cost?
        let started = Instant::now();
        client.batch_execute("ANALYZE").await.expect("analyze");
        println!(
            "  after ANALYZE ({:.1} s):",
            started.elapsed().as_secs_f64()
        );
        summaries(&store).await;
        let started = Instant::now();
        client
            .batch_execute("VACUUM ANALYZE")
            .await
            .expect("vacuum");
        println!(
            "  after VACUUM ANALYZE ({:.1} s):",
            started.elapsed().as_secs_f64()
        );
        summaries(&store).await;
    }
    // Intake into a full store.
    let mut generator = BulkReports::next_day();
    let batches: Vec<Vec<NewReport>> = (0..20)
        .map(|_| (0..BATCH).map(|_| generator.report()).collect())
        .collect();
    let started = Instant::now();
    let cpu_started = cpu_time();
    for batch in batches {
        store.insert(batch).await.expect("insert");
    }
    println!(
        "  insert into the full store: 20,000 more reports at {:.0} reports/s, {:.0} per CPU second",
        rate(20 * BATCH, started.elapsed()),
        rate(20 * BATCH, cpu_time().saturating_sub(cpu_started))
    );
}

fn main() {
    let total: usize = std::env::var("MTA_STS_BENCH_REPORTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let backends =
        std::env::var("MTA_STS_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if backends.contains("sqlite")
            && let Ok(path) = std::env::var("MTA_STS_BENCH_SQLITE_PATH")
        {
            println!("SQLite ({path}, kept), {total} reports:");
            run(&StoreUrl::Sqlite(path.into()), total, None).await;
        } else if backends.contains("sqlite") {
            let dir = TempDir::new("mta-sts-store-bench");
            let path = dir.file("reports.db");
            println!("SQLite ({}), {total} reports:", path.display());
            run(&StoreUrl::Sqlite(path.clone()), total, None).await;
            let size: u64 = std::fs::read_dir(dir.path())
                .expect("dir")
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            println!("  size on disk: {} MiB", size / (1024 * 1024));
        }
        if backends.contains("postgres") {
            if let Ok(url) = std::env::var("MTA_STS_BENCH_POSTGRES_URL") {
                println!("PostgreSQL (kept), {total} reports:");
                run(&StoreUrl::Postgres(url.clone()), total, Some(&url)).await;
                return;
            }
            match TestDatabase::create("summary_1m").await {
                Some(database) => {
                    println!(
                        "PostgreSQL (database {}), {total} reports:",
                        database.name()
                    );
                    run(&database.store_url(), total, Some(database.url())).await;
                }
                None => println!("PostgreSQL: skipped (MTA_STS_TEST_POSTGRES is not set)"),
            }
        }
    });
}
