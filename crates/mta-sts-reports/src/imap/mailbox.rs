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
    // run on a server without UIDPLUS (see `move_message`), and any the owner flagged.
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
    for uid in uids {
        // A UID the size fetch did not return was expunged by another client meanwhile.
        let Some(&size) = sizes.get(&uid) else {
            continue;
        };
        if size > settings.max_message_size {
            handler.too_large(uid, size, settings.max_message_size);
            tally.too_large += 1;
            continue;
        }
        // BODY.PEEK[] (RFC 3501 §6.4.5): the message without setting \Seen, and by a partial
        // fetch (`<0.N>`) never more than one byte over the cap, whatever the size claimed.
        let query = format!(
            "(UID BODY.PEEK[]<0.{}>)",
            u64::from(settings.max_message_size) + 1
        );
        let fetched = within(settings, "UID FETCH", async {
            let stream = connection
                .session
                .uid_fetch(uid.to_string(), &query)
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?
        .map_err(|e| command_error(settings, format!("UID FETCH {uid} BODY.PEEK[]"), e))?;
        let Some(raw) = fetched
            .iter()
            .find(|message| message.uid == Some(uid))
            .and_then(|message| message.body())
        else {
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
            Disposition::Taken => {
                move_message(connection, settings, uid, &settings.processed_folder).await?;
                tally.taken += 1;
            }
            Disposition::NotAReport => {
                move_message(connection, settings, uid, &settings.not_a_report_folder).await?;
                tally.not_a_report += 1;
            }
            Disposition::StoreUnavailable => {
                tally.store_unavailable = true;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Moves one message (by UID) to `folder`: RFC 6851 `UID MOVE` when the server has it; else
/// `UID COPY`, `\Deleted`, and `UID EXPUNGE` of that UID alone (RFC 4315 §2.1). A server with
/// neither keeps the flagged original until its owner expunges: a plain EXPUNGE would also remove
/// messages someone else flagged, and nothing is deleted unasked.
async fn move_message(
    connection: &mut Connection,
    settings: &FetchSettings,
    uid: u32,
    folder: &str,
) -> Result<(), ImapError> {
    let session = &mut connection.session;
    let uid_text = uid.to_string();
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
    use super::uid_set;

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
