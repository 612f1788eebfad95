use proptest::prelude::*;

use super::*;

fn split(mbox: &[u8], cap: usize) -> Vec<MboxEntry> {
    MboxMessages::new(mbox, cap)
        .collect::<Result<Vec<_>, _>>()
        .expect("reading from memory cannot fail")
}

#[test]
fn splits_on_from_lines_and_unquotes() {
    let mbox = b"From a@example.com Mon Dec  7 00:00:00 2026\n\
Subject: one\n\n>From here\n>>From there\n> From not quoted\n\
From b@example.com Mon Dec  7 00:00:01 2026\nSubject: two\n\nbody\n";
    assert_eq!(
        split(mbox, 1000),
        vec![
            MboxEntry::Message(
                b"Subject: one\n\nFrom here\n>From there\n> From not quoted\n".to_vec()
            ),
            MboxEntry::Message(b"Subject: two\n\nbody\n".to_vec()),
        ]
    );
}

#[test]
fn skips_text_before_the_first_from_line() {
    assert_eq!(split(b"junk\nmore\n", 1000), vec![]);
    assert_eq!(split(b"", 1000), vec![]);
}

#[test]
fn a_message_over_the_cap_is_named_not_kept() {
    let mut mbox = b"From a Mon Dec  7 00:00:00 2026\n".to_vec();
    mbox.extend_from_slice(&[b'x'; 5000]);
    mbox.extend_from_slice(b"\nFrom b Mon Dec  7 00:00:00 2026\nSubject: ok\n");
    assert_eq!(
        split(&mbox, 100),
        vec![
            MboxEntry::TooLarge { number: 1 },
            MboxEntry::Message(b"Subject: ok\n".to_vec())
        ]
    );
}

proptest! {
    /// Messages quoted as mboxrd writes them come back exactly.
    #[test]
    fn quoting_round_trips(bodies in prop::collection::vec(
        prop::collection::vec(prop::sample::select(vec![
            "From me\n", ">From you\n", "text\n", ">>From x\n", "\n", "From:\n",
        ]), 0..8), 1..5)) {
        let mut mbox = Vec::new();
        let mut expected = Vec::new();
        for lines in &bodies {
            mbox.extend_from_slice(b"From sender Mon Dec  7 00:00:00 2026\n");
            let mut message = Vec::new();
            for line in lines {
                message.extend_from_slice(line.as_bytes());
                let quoted = line.trim_start_matches('>').starts_with("From ");
                if quoted {
                    mbox.push(b'>');
                }
                mbox.extend_from_slice(line.as_bytes());
            }
            expected.push(MboxEntry::Message(message));
        }
        prop_assert_eq!(split(&mbox, 1 << 20), expected);
    }
}
