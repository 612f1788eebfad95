//! The report store with 1,000,000 reports: how fast they go in (batches of 1,000, as intake
//! sends them), and how long the 30-day summary of one domain takes, on SQLite and PostgreSQL.
//! Target: the summary under 100 ms on both; intake at 10,000 reports/s or more into SQLite.
//!
//! Run (release build; PostgreSQL only when `MTA_STS_TEST_POSTGRES` names a server, which gets
//! a database of its own, dropped after):
//! `cargo bench -p mta-sts-store --bench summary_1m`
//! `MTA_STS_BENCH_REPORTS=N` changes the number of reports, `MTA_STS_BENCH_BACKENDS=sqlite`
//! (or `postgres`) runs one backend, `MTA_STS_BENCH_POSTGRES_URL=URL` fills that database
//! instead of a temporary one and keeps it (to look at query plans afterwards). Results are
//! recorded in BENCHMARKS.md.
//!
//! The reports are spread as a receiving side sees them: 500 domains with Zipf-distributed
//! volume (the largest gets 15% of all reports), 40 reporting organisations (also Zipf: a few
//! large providers send most), 365 days, Microsoft-style reports counting the same sessions under
//! `sts` and `tlsa`, and failure details on 30% of the policies. They go in as a year of intake
//! would put them: day after day (each report the day after its period), so the last reports
//! stored are the latest; the 20,000 inserted into the full store are the next day's.

use std::time::{Duration, Instant};

use mta_sts_core::report::{
    AppliedPolicy, DateRange, FailureDetail, PolicyResult, PolicyType, Report, ResultType, Summary,
    Timestamp,
};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::{NewReport, ReportStore, Source, SummaryQuery};
use mta_sts_store::test_support::{TempDir, TestDatabase};

const DOMAINS: usize = 500;
const ORGANIZATIONS: usize = 40;
const DAYS: i64 = 365;
const BATCH: usize = 1000;
/// 2026-11-30T00:00:00Z, the last day of the year of reports.
const LAST_DAY: i64 = 1_796_083_200;
const RESULT_TYPES: [&str; 5] = [
    "starttls-not-supported",
    "certificate-expired",
    "certificate-host-mismatch",
    "validation-failure",
    "sts-policy-fetch-error",
];

/// Deterministic noise (xorshift), so every run stores the same reports.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Cumulative Zipf weights over `n` items.
fn zipf(n: usize) -> Vec<f64> {
    let mut total = 0.0;
    let mut cumulative: Vec<f64> = (1..=n)
        .map(|rank| {
            total += 1.0 / rank as f64;
            total
        })
        .collect();
    for weight in &mut cumulative {
        *weight /= total;
    }
    cumulative
}

fn pick(cumulative: &[f64], noise: &mut Noise) -> usize {
    let u = noise.unit();
    cumulative
        .partition_point(|w| *w < u)
        .min(cumulative.len() - 1)
}

fn domain(index: usize) -> String {
    format!("domain{index}.example")
}

fn organization(index: usize) -> String {
    match index {
        0 => "google.com".into(),
        1 => "Microsoft Corporation".into(),
        _ => format!("reporter{index}.example"),
    }
}

fn timestamp(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds).expect("in range")
}

struct Generator {
    noise: Noise,
    domains: Vec<f64>,
    organizations: Vec<f64>,
    next_id: u64,
    /// How many reports the year holds: report n covers day n * DAYS / total of it.
    total: u64,
    /// The day every report covers instead, for the day after the year.
    day: Option<i64>,
}

impl Generator {
    fn new() -> Generator {
        Generator {
            noise: Noise(0x9e37_79b9_7f4a_7c15),
            domains: zipf(DOMAINS),
            organizations: zipf(ORGANIZATIONS),
            next_id: 0,
            total: 1,
            day: None,
        }
    }

    fn report(&mut self) -> NewReport {
        let noise = &mut self.noise;
        let domain_index = pick(&self.domains, noise);
        let organization_index = pick(&self.organizations, noise);
        let day = self.day.unwrap_or_else(|| {
            let day_of_year = (self.next_id * DAYS as u64 / self.total.max(1)) as i64;
            LAST_DAY - (DAYS - 1 - day_of_year.min(DAYS - 1)) * 86_400
        });
        let policy_domain = domain(domain_index);
        let successful = noise.below(5000);
        let mut failure_details = Vec::new();
        if noise.below(10) < 3 {
            for _ in 0..=noise.below(3) {
                failure_details.push(FailureDetail {
                    result_type: ResultType::from_wire(
                        RESULT_TYPES[noise.below(RESULT_TYPES.len() as u64) as usize],
                    ),
                    sending_mta_ip: Some(format!("192.0.2.{}", noise.below(200))),
                    receiving_mx_hostname: Some(format!(
                        "mx{}.{policy_domain}",
                        noise.below(3) + 1
                    )),
                    receiving_mx_helo: None,
                    receiving_ip: None,
                    failed_session_count: noise.below(20) + 1,
                    additional_information: None,
                    failure_reason_code: None,
                });
            }
        }
        let failed = failure_details.iter().map(|d| d.failed_session_count).sum();
        let entry = |policy_type: PolicyType| PolicyResult {
            policy: AppliedPolicy {
                policy_type,
                policy_string: vec![
                    "version: STSv1".into(),
                    "mode: testing".into(),
                    format!("mx: *.{policy_domain}"),
                    "max_age: 604800".into(),
                ],
                policy_domain: Some(policy_domain.clone()),
                mx_host: vec![format!("*.{policy_domain}")],
            },
            summary: Summary {
                total_successful_session_count: successful,
                total_failure_session_count: failed,
            },
            failure_details: failure_details.clone(),
        };
        let mut policies = vec![entry(PolicyType::Sts)];
        if organization_index == 1 {
            // Microsoft counts the same sessions under both policies.
            policies.push(entry(PolicyType::Tlsa));
        }
        self.next_id += 1;
        let organization_name = organization(organization_index);
        let report = Report {
            contact_info: Some(format!("tlsrpt@{organization_name}")),
            organization_name,
            date_range: DateRange {
                start: timestamp(day),
                end: timestamp(day + 86_399),
            },
            report_id: format!("{}-{}@bench", self.next_id, day),
            policies,
        };
        let json = serde_json::to_vec(&report).expect("serializes");
        NewReport {
            report,
            json,
            gzip: None,
            findings: Vec::new(),
            received_at: timestamp(day + 86_400 + 3600),
            source: Source::Mail,
        }
    }
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
    let mut generator = Generator::new();
    generator.total = total as u64;
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

async fn summaries(store: &ReportStore) {
    time_summary(store, &domain(0), "the largest domain").await;
    time_summary(store, &domain(20), "a mid-sized domain").await;
    time_summary(store, &domain(400), "a small domain").await;
}

async fn run(url: &StoreUrl, total: usize, postgres_url: Option<&str>) {
    let store = ReportStore::open(url).await.expect("open");
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
    let mut generator = Generator::new();
    generator.noise = Noise(0x2545_f491_4f6c_dd1d);
    generator.next_id = 10_000_000;
    generator.day = Some(LAST_DAY + 86_400);
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
        if backends.contains("sqlite") {
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
