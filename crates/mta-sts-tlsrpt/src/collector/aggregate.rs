//! The collector's in-memory counts: datagrams added up per (UTC day, domain, TLSRPT record,
//! policy) and per failure, until a flush hands them to the store as one [`CountBatch`].

use std::collections::{BTreeMap, HashMap};

use mta_sts_core::SessionCounts;
use mta_sts_core::report::{AppliedPolicy, FailureDetail, PolicyResult, Summary};
use mta_sts_core::time::UtcDate;
use mta_sts_core::tlsrpt_datagram::Datagram;
use mta_sts_store::sender_reports::{CountBatch, DayCounts, DayFigures};

/// Where one count is kept: the store's row key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryKey {
    day: UtcDate,
    domain: String,
    tlsrpt_record: String,
    policy: AppliedPolicy,
}

#[derive(Debug, Default)]
struct EntryCounts {
    total: u64,
    failed: u64,
    /// Each distinct failure (with `failed_session_count` 1, as the parser gives it) and how
    /// often it was seen.
    failures: HashMap<FailureDetail, u64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    datagrams: u64,
    malformed: u64,
    lost: u64,
}

/// What became of a datagram given to [`Aggregate::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// Counted.
    Counted,
    /// Not counted: it needed new keys past the cap.
    Lost,
}

/// Counts in memory, bounded by a number of distinct keys (count rows plus failure rows).
#[derive(Debug, Default)]
pub(crate) struct Aggregate {
    entries: HashMap<EntryKey, EntryCounts>,
    figures: BTreeMap<UtcDate, Figures>,
    keys: usize,
}

impl Aggregate {
    /// Distinct keys held: what the cap bounds and what the store will write as rows.
    pub(crate) fn keys(&self) -> usize {
        self.keys
    }

    /// Whether nothing was counted or received.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.figures.is_empty()
    }

    /// Counts `datagram`, received on `day`, unless that needs new keys beyond `max_keys` (then
    /// nothing of it is counted and it is [`Added::Lost`]: a datagram is counted whole or not
    /// at all).
    pub(crate) fn add(&mut self, day: UtcDate, datagram: Datagram, max_keys: usize) -> Added {
        let most_new: usize = datagram.policies.iter().map(|p| 1 + p.failures.len()).sum();
        // Only near the cap is it worth looking up which keys are really new.
        if self.keys.saturating_add(most_new) > max_keys
            && self.keys.saturating_add(self.new_keys(day, &datagram)) > max_keys
        {
            self.lost(day);
            return Added::Lost;
        }
        self.figures.entry(day).or_default().datagrams += 1;
        let Datagram {
            mut domain,
            mut tlsrpt_record,
            policies,
            notes: _,
        } = datagram;
        let count = policies.len();
        for (index, policy) in policies.into_iter().enumerate() {
            // The last policy takes the strings; the others (rarely more than one) copy them.
            let (domain, tlsrpt_record) = if index + 1 == count {
                (
                    std::mem::take(&mut domain),
                    std::mem::take(&mut tlsrpt_record),
                )
            } else {
                (domain.clone(), tlsrpt_record.clone())
            };
            let key = EntryKey {
                day,
                domain,
                tlsrpt_record,
                policy: policy.policy,
            };
            let entry = match self.entries.get_mut(&key) {
                Some(entry) => entry,
                None => {
                    self.keys += 1;
                    self.entries.entry(key).or_default()
                }
            };
            entry.total += 1;
            entry.failed += u64::from(policy.failed);
            for failure in policy.failures {
                match entry.failures.get_mut(&failure) {
                    Some(seen) => *seen += 1,
                    None => {
                        self.keys += 1;
                        entry.failures.insert(failure, 1);
                    }
                }
            }
        }
        Added::Counted
    }

    /// How many keys counting `datagram` on `day` would add.
    fn new_keys(&self, day: UtcDate, datagram: &Datagram) -> usize {
        let mut new = 0;
        for policy in &datagram.policies {
            let key = EntryKey {
                day,
                domain: datagram.domain.clone(),
                tlsrpt_record: datagram.tlsrpt_record.clone(),
                policy: policy.policy.clone(),
            };
            match self.entries.get(&key) {
                Some(entry) => {
                    new += policy
                        .failures
                        .iter()
                        .filter(|f| !entry.failures.contains_key(*f))
                        .count();
                }
                None => new += 1 + policy.failures.len(),
            }
        }
        new
    }

    /// A datagram received on `day` that could not be read.
    pub(crate) fn malformed(&mut self, day: UtcDate) {
        let figures = self.figures.entry(day).or_default();
        figures.datagrams += 1;
        figures.malformed += 1;
    }

    /// A datagram received on `day` that was not counted for want of room.
    pub(crate) fn lost(&mut self, day: UtcDate) {
        let figures = self.figures.entry(day).or_default();
        figures.datagrams += 1;
        figures.lost += 1;
    }

    /// The counts as the store takes them.
    pub(crate) fn to_batch(&self) -> CountBatch {
        let counts = self
            .entries
            .iter()
            .map(|(key, entry)| DayCounts {
                day: key.day,
                counts: SessionCounts {
                    domain: key.domain.clone(),
                    tlsrpt_record: key.tlsrpt_record.clone(),
                    result: PolicyResult {
                        policy: key.policy.clone(),
                        summary: Summary {
                            total_successful_session_count: entry.total - entry.failed,
                            total_failure_session_count: entry.failed,
                        },
                        failure_details: entry
                            .failures
                            .iter()
                            .map(|(failure, seen)| FailureDetail {
                                failed_session_count: *seen,
                                ..failure.clone()
                            })
                            .collect(),
                    },
                },
            })
            .collect();
        let figures = self
            .figures
            .iter()
            .map(|(day, f)| DayFigures {
                day: *day,
                datagrams: f.datagrams,
                malformed: f.malformed,
                lost: f.lost,
            })
            .collect();
        CountBatch { counts, figures }
    }
}
