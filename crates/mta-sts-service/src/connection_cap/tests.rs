use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// The table as the tests drive it: each admitted connection's marks are kept, so that progress
/// is said by connection id, as a connection's [`Activity`] says it.
struct Table {
    table: super::Table,
    marks: HashMap<u64, Arc<Marks>>,
}

impl Table {
    fn new(limit: usize) -> Table {
        Table {
            table: super::Table::new(limit, Arc::new(AtomicU64::new(0))),
            marks: HashMap::new(),
        }
    }

    fn admit(&mut self, now: Instant) -> (u64, oneshot::Receiver<()>, Option<CapNotice>) {
        let (id, marks, eviction, notice) = self.table.admit(now);
        self.marks.insert(id, marks);
        (id, eviction, notice)
    }

    fn progress(&self, id: u64) {
        if let Some(marks) = self.marks.get(&id) {
            marks.progress(&self.table.sequence);
        }
    }

    fn start(&self, id: u64) {
        if let Some(marks) = self.marks.get(&id) {
            marks.start(&self.table.sequence);
        }
    }

    fn finish(&self, id: u64) {
        if let Some(marks) = self.marks.get(&id) {
            marks.finish(&self.table.sequence);
        }
    }

    fn remove(&mut self, id: u64) {
        self.table.remove(id);
        self.marks.remove(&id);
    }
}

impl std::ops::Deref for Table {
    type Target = super::Table;

    fn deref(&self) -> &super::Table {
        &self.table
    }
}

/// Whether the connection behind `receiver` was told to close.
fn told(receiver: &mut oneshot::Receiver<()>) -> bool {
    receiver.try_recv().is_ok()
}

#[test]
fn at_the_cap_the_longest_idle_connection_makes_room() {
    let t0 = Instant::now();
    let mut table = Table::new(3);
    let (a, mut a_rx, _) = table.admit(t0);
    let (b, mut b_rx, _) = table.admit(t0);
    let (_c, mut c_rx, notice) = table.admit(t0);
    assert_eq!(notice, None, "below the cap nothing is closed");
    // `a` sends a whole request: `b` is now the one idle longest.
    table.progress(a);
    let (_d, mut d_rx, notice) = table.admit(t0);
    assert!(told(&mut b_rx), "b made no progress since it connected");
    assert!(!told(&mut a_rx) && !told(&mut c_rx) && !told(&mut d_rx));
    assert_eq!(
        notice,
        Some(CapNotice {
            limit: 3,
            evicted: 1
        })
    );
    assert_eq!(table.entries.len(), 3);
    assert!(!table.entries.contains_key(&b));
    // Next in line: c (admitted before a's progress).
    let _ = table.admit(t0);
    assert!(told(&mut c_rx));
    assert!(!told(&mut a_rx));
}

#[test]
fn a_connection_with_a_request_in_hand_goes_last() {
    let t0 = Instant::now();
    let mut table = Table::new(2);
    let (a, mut a_rx, _) = table.admit(t0);
    let (b, mut b_rx, _) = table.admit(t0);
    // `a` is oldest but waits for an answer; `b` is idle.
    table.start(a);
    let (c, mut c_rx, _) = table.admit(t0);
    assert!(told(&mut b_rx), "the idle connection goes first");
    assert!(!told(&mut a_rx));
    // Every connection busy: the oldest of them goes.
    table.start(c);
    let _ = table.admit(t0);
    assert!(told(&mut a_rx));
    assert!(!told(&mut c_rx));
    let _ = b;
}

#[test]
fn a_finished_request_counts_as_progress() {
    let t0 = Instant::now();
    let mut table = Table::new(2);
    let (a, mut a_rx, _) = table.admit(t0);
    let (b, mut b_rx, _) = table.admit(t0);
    table.start(a);
    table.progress(b);
    // a's request ends after b's progress: b is now the older.
    table.finish(a);
    let _ = table.admit(t0);
    assert!(told(&mut b_rx));
    assert!(!told(&mut a_rx));
}

#[test]
fn a_closed_connection_frees_its_place() {
    let t0 = Instant::now();
    let mut table = Table::new(2);
    let (a, _a_rx, _) = table.admit(t0);
    let (_b, mut b_rx, _) = table.admit(t0);
    table.remove(a);
    assert_eq!(table.entries.len(), 1);
    let (_, _, notice) = table.admit(t0);
    assert_eq!(notice, None);
    assert!(!told(&mut b_rx), "a free place was there");
    // Updates for a connection that is gone change nothing.
    table.progress(a);
    table.start(a);
    table.finish(a);
    assert_eq!(table.entries.len(), 2);
}

#[test]
fn one_notice_a_minute_however_many_are_closed() {
    let t0 = Instant::now();
    let mut table = Table::new(1);
    let _first = table.admit(t0);
    let (_, _, notice) = table.admit(t0);
    assert_eq!(
        notice,
        Some(CapNotice {
            limit: 1,
            evicted: 1
        })
    );
    for second in 1..60 {
        let (_, _, notice) = table.admit(t0 + Duration::from_secs(second));
        assert_eq!(notice, None, "{second} s after the first notice");
    }
    // A minute on: one line, counting every connection closed since the last.
    let (_, _, notice) = table.admit(t0 + NOTICE_INTERVAL);
    assert_eq!(
        notice,
        Some(CapNotice {
            limit: 1,
            evicted: 60
        })
    );
}

#[tokio::test]
async fn an_evicted_slot_hears_it_and_keeps_hearing_it() {
    let cap = ConnectionCap::new(1);
    let mut first = cap.admit().slot;
    let activity = first.activity();
    let second = cap.admit();
    assert!(second.notice.is_some());
    first.evicted().await;
    first.evicted().await;
    // The evicted connection's handle no longer moves anything.
    activity.progress();
    drop(activity.start());
    assert_eq!(cap.len(), 1);
    drop(first);
    assert_eq!(cap.len(), 1, "dropping an evicted slot frees nothing more");
    drop(second);
    assert!(cap.is_empty());
}

#[tokio::test]
async fn a_slot_not_chosen_is_not_told() {
    let cap = ConnectionCap::new(2);
    let mut idle = cap.admit().slot;
    let mut busy = cap.admit().slot;
    let request = busy.activity().start();
    let _third = cap.admit();
    idle.evicted().await;
    let waited = tokio::time::timeout(Duration::from_millis(20), busy.evicted()).await;
    assert!(waited.is_err(), "the busy connection was kept");
    drop(request);
    assert_eq!(cap.limit(), 2);
}

/// What a test does to the table.
#[derive(Debug, Clone)]
enum Op {
    Admit,
    Progress(usize),
    Start(usize),
    Finish(usize),
    Close(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Admit),
        2 => any::<usize>().prop_map(Op::Progress),
        1 => any::<usize>().prop_map(Op::Start),
        1 => any::<usize>().prop_map(Op::Finish),
        1 => any::<usize>().prop_map(Op::Close),
    ]
}

/// The same rules, written the slow and obvious way: a list of connections with their busy
/// count and the step of their last progress.
#[derive(Debug, Default)]
struct Model {
    open: Vec<(u64, u32, usize)>,
}

impl Model {
    fn victim(&self) -> Option<u64> {
        self.open
            .iter()
            .min_by_key(|(_, busy, step)| (*busy > 0, *step))
            .map(|(id, _, _)| *id)
    }
}

proptest! {
    #[test]
    fn evicts_as_the_obvious_model_does(
        limit in 1usize..6,
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let t0 = Instant::now();
        let mut table = Table::new(limit);
        let mut model = Model::default();
        let mut receivers = HashMap::new();
        for (step, op) in ops.into_iter().enumerate() {
            let pick = |n: usize| model.open.get(n % model.open.len().max(1)).map(|e| e.0);
            match op {
                Op::Admit => {
                    let expected = (model.open.len() >= limit).then(|| model.victim()).flatten();
                    let (id, receiver, _) = table.admit(t0);
                    if let Some(victim) = expected {
                        let told = receivers
                            .get_mut(&victim)
                            .is_some_and(|r: &mut oneshot::Receiver<()>| r.try_recv().is_ok());
                        prop_assert!(told, "connection {} should have been evicted", victim);
                        model.open.retain(|e| e.0 != victim);
                    }
                    receivers.insert(id, receiver);
                    model.open.push((id, 0, step));
                }
                Op::Progress(n) => if let Some(id) = pick(n) {
                    table.progress(id);
                    if let Some(e) = model.open.iter_mut().find(|e| e.0 == id) {
                        e.2 = step;
                    }
                },
                Op::Start(n) => if let Some(id) = pick(n) {
                    table.start(id);
                    if let Some(e) = model.open.iter_mut().find(|e| e.0 == id) {
                        e.1 += 1;
                        e.2 = step;
                    }
                },
                Op::Finish(n) => if let Some(id) = pick(n) {
                    table.finish(id);
                    if let Some(e) = model.open.iter_mut().find(|e| e.0 == id) {
                        e.1 = e.1.saturating_sub(1);
                        e.2 = step;
                    }
                },
                Op::Close(n) => if let Some(id) = pick(n) {
                    table.remove(id);
                    model.open.retain(|e| e.0 != id);
                },
            }
            prop_assert!(table.entries.len() <= limit);
            let ids: BTreeSet<u64> = table.entries.keys().copied().collect();
            let model_ids: BTreeSet<u64> = model.open.iter().map(|e| e.0).collect();
            prop_assert_eq!(ids, model_ids);
        }
    }
}
