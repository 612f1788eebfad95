//! When each domain is checked next: every `interval`, each domain shifted by its own random
//! part of `jitter`, chosen when the domain joins the schedule (at start, or when a reload
//! adds it). The shifts keep many domains from all being checked at once (and servers sharing
//! a store from checking in lock-step); keeping each domain's shift keeps its checks an
//! interval apart.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// The next check of every monitored domain.
#[derive(Debug)]
pub(crate) struct Schedule {
    interval: Duration,
    jitter: Duration,
    next: BTreeMap<String, Instant>,
}

impl Schedule {
    /// An empty schedule.
    pub(crate) fn new(interval: Duration, jitter: Duration) -> Schedule {
        Schedule {
            interval,
            jitter,
            next: BTreeMap::new(),
        }
    }

    /// Follows the list of monitored domains: a new one is first checked at `now` plus its
    /// shift (`share` of the jitter, from 0 to 1, drawn for it), one gone is dropped.
    pub(crate) fn follow(
        &mut self,
        domains: &[String],
        now: Instant,
        mut share: impl FnMut() -> f64,
    ) {
        self.next.retain(|domain, _| domains.contains(domain));
        for domain in domains {
            if !self.next.contains_key(domain) {
                let shift = self.jitter.mul_f64(share().clamp(0.0, 1.0));
                self.next.insert(domain.clone(), now + shift);
            }
        }
    }

    /// The domains due at `now`, soonest first.
    pub(crate) fn due(&self, now: Instant) -> Vec<String> {
        let mut due: Vec<(&Instant, &String)> = self
            .next
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(domain, at)| (at, domain))
            .collect();
        due.sort();
        due.into_iter().map(|(_, domain)| domain.clone()).collect()
    }

    /// When the next check is due, if any domain is monitored.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.next.values().min().copied()
    }

    /// `domain`'s check has started at `now`: its next is an interval after the one due (its
    /// shift kept), or an interval from now when it fell a whole interval behind (a slow
    /// check, a suspended machine), so missed checks are not all made at once.
    pub(crate) fn started(&mut self, domain: &str, now: Instant) {
        if let Some(at) = self.next.get_mut(domain) {
            let mut following = *at + self.interval;
            if following <= now {
                following = now + self.interval;
            }
            *at = following;
        }
    }
}

/// A share from 0 to 1 from the system's random source (0 without one: no shift is no harm).
pub(crate) fn random_share() -> f64 {
    use ring::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 4];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_string()).collect()
    }

    #[test]
    fn each_domain_is_shifted_by_its_share_of_the_jitter_and_keeps_it() {
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(3600), Duration::from_secs(360));
        let mut shares = [0.0, 0.5, 1.0].into_iter();
        schedule.follow(
            &domains(&["a.example", "b.example", "c.example"]),
            start,
            || shares.next().expect("a share per domain"),
        );
        assert_eq!(schedule.due(start), ["a.example"]);
        assert_eq!(
            schedule.due(start + Duration::from_secs(180)),
            ["a.example", "b.example"]
        );
        assert_eq!(schedule.due(start + Duration::from_secs(360)).len(), 3);
        schedule.started("b.example", start + Duration::from_secs(181));
        // An interval after it was due, not after it ran: the shift stays.
        assert_eq!(
            schedule.next.get("b.example"),
            Some(&(start + Duration::from_secs(3780)))
        );
        assert_eq!(schedule.next_due(), Some(start));
    }

    #[test]
    fn a_domain_a_whole_interval_behind_is_not_checked_twice_in_a_row() {
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(60), Duration::ZERO);
        schedule.follow(&domains(&["a.example"]), start, || 0.5);
        let late = start + Duration::from_secs(300);
        schedule.started("a.example", late);
        assert!(schedule.due(late).is_empty());
        assert_eq!(schedule.next_due(), Some(late + Duration::from_secs(60)));
    }

    #[test]
    fn a_reload_adds_and_drops_domains_without_moving_the_others() {
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(60), Duration::from_secs(10));
        schedule.follow(&domains(&["a.example", "b.example"]), start, || 1.0);
        let later = start + Duration::from_secs(5);
        schedule.follow(&domains(&["b.example", "c.example"]), later, || 0.0);
        assert_eq!(schedule.due(later), ["c.example"]);
        assert_eq!(
            schedule.due(start + Duration::from_secs(10)),
            ["c.example", "b.example"]
        );
        assert!(!schedule.next.contains_key("a.example"));
    }

    #[test]
    fn shares_are_from_0_to_1() {
        for _ in 0..100 {
            let share = random_share();
            assert!((0.0..=1.0).contains(&share), "{share}");
        }
    }
}
