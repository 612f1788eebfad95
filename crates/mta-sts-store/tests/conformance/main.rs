//! The conformance suite: the same test bodies against every backend, SQLite (a temporary
//! file) and PostgreSQL (a fresh database per test on `MTA_STS_TEST_POSTGRES`, dropped after;
//! SKIPPED without it, failing instead with `MTA_STS_REQUIRE_TOOLS=1`).
//!
//! Each body is an `async fn(Backend)`; [`conformance!`] makes one test per backend of it.

mod acme;
mod backend;
mod evidence;
mod fetches;
mod fixtures;
mod migrations;
mod monitor;
mod properties;
mod reports;
mod unavailable;

/// One `#[tokio::test]` per backend for each body, in modules `sqlite` and `postgres`.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = crate::backend::Backend::sqlite();
                    crate::$module::$name(backend).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(backend) =
                        crate::backend::Backend::postgres(stringify!($name)).await
                    else {
                        return;
                    };
                    crate::$module::$name(backend).await;
                }
            )*
        }
    };
}

conformance!(
    fetches::policy_fetches_add_up_across_servers,
    monitor::monitor_checks_are_read_newest_first_and_pruned_by_age,
    monitor::a_monitor_event_is_open_once_and_cleared_once,
    migrations::a_new_store_gets_the_latest_schema,
    migrations::a_reopened_store_keeps_its_reports_and_version,
    migrations::a_newer_schema_is_refused_and_left_untouched,
    migrations::another_programs_store_is_refused_and_left_untouched,
    migrations::stores_opened_at_once_migrate_once,
    migrations::an_older_schema_is_migrated_step_by_step,
    migrations::a_version_1_store_migrates_with_nothing_lost,
    reports::a_report_is_imported_once,
    reports::the_same_identity_with_other_content_is_a_duplicate,
    reports::a_reused_report_id_with_another_date_range_is_a_new_report,
    reports::duplicates_within_one_batch,
    reports::a_failing_batch_stores_nothing,
    reports::concurrent_writers_store_each_report_once,
    reports::the_raw_report_and_findings_are_kept,
    reports::a_report_received_as_gzip_is_kept_as_received,
    reports::list_serializes_as_the_cli_prints_it,
    reports::list_filters_by_domain_since_and_limit,
    reports::summary_matches_hand_computed_numbers,
    reports::microsoft_sts_and_tlsa_counts_stay_apart,
    reports::prune_deletes_ended_reports_in_batches,
    evidence::evidence_gathers_reporters_failures_and_policies,
    evidence::summary_days_count_failures_by_result_type,
    evidence::domains_lists_every_domain_with_its_days_and_recent_counts,
    evidence::a_report_is_read_back_in_full,
    evidence::list_pages_newest_first,
    evidence::received_since_follows_receipt_order,
    evidence::an_alert_is_claimed_once_per_condition_and_period,
    evidence::domain_state_swaps_return_the_previous_value,
    evidence::domains_counts_hold_under_concurrent_writers,
    unavailable::a_locked_store_is_unavailable,
    properties::summary_totals_are_the_sums_of_the_reports_imported,
    acme::the_first_acme_account_kept_is_the_one_every_server_uses,
    acme::a_certificate_is_replaced_only_by_a_longer_lasting_one,
    acme::an_issuance_lease_has_one_holder_until_it_expires,
);
