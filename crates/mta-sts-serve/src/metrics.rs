//! The server's own counters, registered in the one registry `/metrics` shows beside the
//! intake's (reports by organisation and outcome, sessions by domain and result type) and the
//! connection counters every server shares.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How a POST on the intake path was answered: the `answer` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 200: a new report, stored.
    Stored,
    /// 200: a report already stored.
    Duplicate,
    /// 400: not a report, or a broken one.
    Invalid,
    /// 403: a report for domains that are not configured.
    RefusedDomain,
    /// 408: the body did not arrive in time.
    TooSlow,
    /// 413: the body, or the report once decompressed, over its cap.
    TooLarge,
    /// 415: not one of the two report media types.
    UnsupportedMediaType,
    /// 429: over the client's rate or concurrency limit.
    RateLimited,
    /// 503: the store could not take it; the reporter retries.
    StoreUnavailable,
    /// 500: anything else that went wrong on the server's side.
    Failed,
}

impl Answer {
    const ALL: [Answer; 10] = [
        Answer::Stored,
        Answer::Duplicate,
        Answer::Invalid,
        Answer::RefusedDomain,
        Answer::TooSlow,
        Answer::TooLarge,
        Answer::UnsupportedMediaType,
        Answer::RateLimited,
        Answer::StoreUnavailable,
        Answer::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Answer::Stored => "stored",
            Answer::Duplicate => "duplicate",
            Answer::Invalid => "invalid",
            Answer::RefusedDomain => "refused_domain",
            Answer::TooSlow => "too_slow",
            Answer::TooLarge => "too_large",
            Answer::UnsupportedMediaType => "unsupported_media_type",
            Answer::RateLimited => "rate_limited",
            Answer::StoreUnavailable => "store_unavailable",
            Answer::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AnswerLabel {
    answer: &'static str,
}

/// The counters of the intake endpoint and of retention.
#[derive(Debug, Clone)]
pub(crate) struct ServeMetrics {
    posts: Family<AnswerLabel, Counter>,
    pruned: Counter,
    prune_failures: Counter,
}

impl ServeMetrics {
    /// Registers the counters under `mta_sts_serve_`.
    pub(crate) fn register(registry: &mut Registry) -> ServeMetrics {
        let posts = Family::<AnswerLabel, Counter>::default();
        // Every label value appears from the start at 0, so rates and alerts work before the
        // first event of each kind.
        for answer in Answer::ALL {
            drop(posts.get_or_create(&AnswerLabel {
                answer: answer.label(),
            }));
        }
        let pruned = Counter::default();
        let prune_failures = Counter::default();
        let registry = registry.sub_registry_with_prefix("mta_sts_serve");
        registry.register(
            "posts",
            "Reports POSTed to the intake path, by answer: stored (200), duplicate (200), invalid (400), refused_domain (403), too_slow (408), too_large (413), unsupported_media_type (415), rate_limited (429), store_unavailable (503), failed (500)",
            posts.clone(),
        );
        registry.register(
            "pruned_reports",
            "Reports deleted by retention (keep_days)",
            pruned.clone(),
        );
        registry.register(
            "prune_failures",
            "Retention passes that failed (the next pass tries again)",
            prune_failures.clone(),
        );
        ServeMetrics {
            posts,
            pruned,
            prune_failures,
        }
    }

    /// A POST answered.
    pub(crate) fn answered(&self, answer: Answer) {
        self.posts
            .get_or_create(&AnswerLabel {
                answer: answer.label(),
            })
            .inc();
    }

    /// A retention pass deleted `count` reports.
    pub(crate) fn pruned(&self, count: u64) {
        self.pruned.inc_by(count);
    }

    /// A retention pass failed.
    pub(crate) fn prune_failed(&self) {
        self.prune_failures.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_as_documented() {
        let mut registry = Registry::default();
        let metrics = ServeMetrics::register(&mut registry);
        metrics.answered(Answer::RefusedDomain);
        metrics.pruned(3);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            "mta_sts_serve_posts_total{answer=\"refused_domain\"} 1",
            "mta_sts_serve_posts_total{answer=\"stored\"} 0",
            "mta_sts_serve_pruned_reports_total 3",
            "mta_sts_serve_prune_failures_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
