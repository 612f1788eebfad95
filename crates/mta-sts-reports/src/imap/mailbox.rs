//! One pass over the mailbox: list by UID, size each message, read it, hand it over, move it.

use std::collections::HashMap;

use futures_util::TryStreamExt as _;

use super::connect::{Connection, command_error, within};
use super::{Disposition, FetchSettings, ImapError, MessageHandler, PassTally};

/// How many UIDs one `UID FETCH (RFC822.SIZE)` names, to keep command lines short.
const SIZE_BATCH: usize = 500;

/// Reads every message of the selected mailbox once, in UID order, and moves each where the
/// handler says. Stops at the first message the store cannot take (it stays, with those after it).
pub(super) async fn pass<H: MessageHandler>(
    connection: &mut Connection,
    settings: &FetchSettings,
    handler: &H,
    tally: &mut PassTally,
) -> Result<(), ImapError> {
    // RFC 3501 §6.4.4: UNDELETED skips a message already copied out and flagged by an earlier
    // run on a server without UIDPLUS (see `move_messages`), and any the owner flagged.
    let mut uids: Vec<u32> = within(
        settings,
        "UID SEARCH",
        connection.session.uid_search("UNDELETED"),
    )
    .await?
    .map_err(|e| command_error(settings, "UID SEARCH UNDELETED", e))?
    .into_iter()
    .collect();
    uids.sort_unstable();
    let mut sizes = HashMap::with_capacity(uids.len());
    for batch in uids.chunks(SIZE_BATCH) {
        let set = uid_set(batch);
        let fetched = within(settings, "UID FETCH", async {
            let stream = connection
                .session
                .uid_fetch(&set, "(UID RFC822.SIZE)")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?
        .map_err(|e| command_error(settings, "UID FETCH (RFC822.SIZE)", e))?;
        for message in fetched {
            if let (Some(uid), Some(size)) = (message.uid, message.size) {
                sizes.insert(uid, size);
            }
        }
    }
    // The messages within the cap, in UID order, with the size the server gives.
    let mut wanted = Vec::with_capacity(uids.len());
    for uid in uids {
        // A UID the size fetch did not return was expunged by another client meanwhile.
        let Some(&size) = sizes.get(&uid) else {
            continue;
        };
        if size > settings.max_message_size {
            handler.too_large(uid, size, settings.max_message_size);
            tally.too_large += 1;
        } else {
            wanted.push((uid, size));
        }
    }
    let mut rest = wanted.as_slice();
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(batch_len(rest));
        rest = after;
        if take_batch(connection, settings, handler, tally, batch).await? == Batch::Stopped {
            break;
        }
    }
    Ok(())
}

/// How many messages are read with one `UID FETCH`: at most this many...
const BODY_BATCH_MESSAGES: usize = 100;
/// ...and, after the first, no more than this many bytes together, so a batch of large messages
/// does not sit in memory at once.
const BODY_BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// The length of the next batch: at least one message.
fn batch_len(messages: &[(u32, u32)]) -> usize {
    let mut bytes = 0u64;
    let mut count = 0;
    for &(_, size) in messages.iter().take(BODY_BATCH_MESSAGES) {
        bytes += u64::from(size);
        if count > 0 && bytes > BODY_BATCH_BYTES {
            break;
        }
        count += 1;
    }
    count.max(1)
}

/// Whether the pass goes on after a batch.
#[derive(Debug, PartialEq, Eq)]
enum Batch {
    Done,
    /// The store was unavailable: the rest stays for the next pass.
    Stopped,
}

/// Reads a batch of messages with one command, hands each to the handler in UID order, then
/// moves those handled with one command per destination. A message is moved only after the
/// handler has taken it; if the connection breaks before the move, the next pass reads it again
/// and the store calls its reports duplicates.
async fn take_batch<H: MessageHandler>(
    connection: &mut Connection,
    settings: &FetchSettings,
    handler: &H,
    tally: &mut PassTally,
    batch: &[(u32, u32)],
) -> Result<Batch, ImapError> {
    let uids: Vec<u32> = batch.iter().map(|&(uid, _)| uid).collect();
    let set = uid_set(&uids);
    // BODY.PEEK[] (RFC 3501 §6.4.5): the message without setting \Seen, and by a partial
    // fetch (`<0.N>`) never more than one byte over the cap, whatever the size claimed.
    let query = format!(
        "(UID BODY.PEEK[]<0.{}>)",
        u64::from(settings.max_message_size) + 1
    );
    let fetched = within(settings, "UID FETCH", async {
        let stream = connection.session.uid_fetch(&set, &query).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?
    .map_err(|e| command_error(settings, format!("UID FETCH {set} BODY.PEEK[]"), e))?;
    let bodies: HashMap<u32, &[u8]> = fetched
        .iter()
        .filter_map(|message| Some((message.uid?, message.body()?)))
        .collect();
    let mut processed = Vec::new();
    let mut not_a_report = Vec::new();
    let mut outcome = Batch::Done;
    for uid in uids {
        // Missing: expunged by another client since the search.
        let Some(&raw) = bodies.get(&uid) else {
            continue;
        };
        // The server's size was a claim; the cap holds against what was actually sent.
        if raw.len() > settings.max_message_size as usize {
            let size = u32::try_from(raw.len()).unwrap_or(u32::MAX);
            handler.too_large(uid, size, settings.max_message_size);
            tally.too_large += 1;
            continue;
        }
        match handler.take(uid, raw).await {
            Disposition::Taken => processed.push(uid),
            Disposition::NotAReport => not_a_report.push(uid),
            Disposition::StoreUnavailable => {
                tally.store_unavailable = true;
                outcome = Batch::Stopped;
                break;
            }
        }
    }
    move_messages(connection, settings, &processed, &settings.processed_folder).await?;
    tally.taken += processed.len() as u64;
    move_messages(
        connection,
        settings,
        &not_a_report,
        &settings.not_a_report_folder,
    )
    .await?;
    tally.not_a_report += not_a_report.len() as u64;
    Ok(outcome)
}

/// Moves messages (by UID, ascending) to `folder`: RFC 6851 `UID MOVE` when the server has it;
/// else `UID COPY`, `\Deleted`, and `UID EXPUNGE` of those UIDs alone (RFC 4315 §2.1). A server with
/// neither keeps the flagged original until its owner expunges: a plain EXPUNGE would also remove
/// messages someone else flagged, and nothing is deleted unasked.
async fn move_messages(
    connection: &mut Connection,
    settings: &FetchSettings,
    uids: &[u32],
    folder: &str,
) -> Result<(), ImapError> {
    if uids.is_empty() {
        return Ok(());
    }
    let session = &mut connection.session;
    let uid_text = uid_set(uids);
    let uid = &uid_text;
    if connection.can_move {
        return within(settings, "UID MOVE", session.uid_mv(&uid_text, folder))
            .await?
            .map_err(|e| command_error(settings, format!("UID MOVE {uid} to {folder}"), e));
    }
    within(settings, "UID COPY", session.uid_copy(&uid_text, folder))
        .await?
        .map_err(|e| command_error(settings, format!("UID COPY {uid} to {folder}"), e))?;
    within(settings, "UID STORE", async {
        let stream = session
            .uid_store(&uid_text, "+FLAGS.SILENT (\\Deleted)")
            .await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?
    .map_err(|e| command_error(settings, format!("UID STORE {uid} +FLAGS (\\Deleted)"), e))?;
    if connection.uidplus {
        within(settings, "UID EXPUNGE", async {
            let stream = session.uid_expunge(&uid_text).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?
        .map_err(|e| command_error(settings, format!("UID EXPUNGE {uid}"), e))?;
    }
    Ok(())
}

/// A UID set in ascending order, runs written as ranges: `3:5,9`.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.saturating_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{BODY_BATCH_BYTES, BODY_BATCH_MESSAGES, batch_len, uid_set};

    #[test]
    fn batches_are_bounded_by_count_and_bytes_but_never_empty() {
        let small: Vec<(u32, u32)> = (1..=250).map(|uid| (uid, 1000)).collect();
        assert_eq!(batch_len(&small), BODY_BATCH_MESSAGES);
        assert_eq!(batch_len(&small[200..]), 50);
        let mb = 1024 * 1024;
        let large: Vec<(u32, u32)> = (1..=10).map(|uid| (uid, 5 * mb)).collect();
        assert_eq!(
            batch_len(&large),
            (BODY_BATCH_BYTES / u64::from(5 * mb)) as usize
        );
        // One message over the byte bound still makes a batch of one.
        assert_eq!(batch_len(&[(1, 32 * mb), (2, 1)]), 1);
    }

    #[test]
    fn uid_sets_are_ranges() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[1, 2, 3, 5, 8, 9]), "1:3,5,8:9");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }
}
