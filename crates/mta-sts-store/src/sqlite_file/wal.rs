//! Reading an SQLite write-ahead log (`-wal` file) frame by frame, to tell a WAL cut short by a
//! crash (normal, nothing lost) from a damaged one (committed transactions SQLite would drop
//! without a word), and to replay every intact committed frame of a damaged one.
//!
//! SQLite reads a WAL from its start and stops at the first frame whose checksum fails: the
//! checksums are cumulative, so nothing after a damaged frame can be verified its way, and the
//! commits after it are silently lost. But every frame header also stores the running checksum,
//! so frame `k` can still be verified on its own, seeded with the checksum frame `k - 1` stored.
//!
//! The format (<https://sqlite.org/fileformat2.html#walformat>): a 32-byte header (magic, version,
//! page size, checkpoint sequence, two salts, a checksum of the first 24 bytes), then frames of a
//! 24-byte header (page number, database size in pages for a commit frame or 0, the two salts, the
//! running checksum) and one page. A frame belongs to the current log when its salts are the
//! header's; frames of an earlier log (before SQLite restarted it from the top) follow the current
//! ones and carry older salts.

use std::path::Path;

/// The magic number of a WAL whose checksums are over little-endian words (bit 0 clear) or
/// big-endian ones (bit 0 set).
const MAGIC: u32 = 0x377f_0682;
const HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// What a WAL file holds.
#[derive(Debug, Default)]
pub(crate) struct WalScan {
    /// The page size the frames carry.
    pub(crate) page_size: usize,
    /// The frames to replay, in log order: page number and the page's bytes. Every frame of the
    /// current log that verifies on its own and is followed by a verified commit frame: what
    /// SQLite would replay, plus the intact commits after a damaged stretch.
    pub(crate) frames: Vec<(u32, Vec<u8>)>,
    /// Why the log is damaged, if it is: committed frames SQLite would not replay.
    pub(crate) damage: Option<String>,
}

fn word(bytes: &[u8], at: usize) -> u32 {
    let mut four = [0u8; 4];
    four.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(four)
}

/// SQLite's WAL checksum of `data` (a multiple of 8 bytes), continuing from `seed`.
fn checksum(data: &[u8], seed: (u32, u32), big_endian: bool) -> (u32, u32) {
    let (mut s0, mut s1) = seed;
    for pair in data.chunks_exact(8) {
        let mut a = [0u8; 4];
        let mut b = [0u8; 4];
        a.copy_from_slice(&pair[..4]);
        b.copy_from_slice(&pair[4..]);
        let (x0, x1) = if big_endian {
            (u32::from_be_bytes(a), u32::from_be_bytes(b))
        } else {
            (u32::from_le_bytes(a), u32::from_le_bytes(b))
        };
        s0 = s0.wrapping_add(x0).wrapping_add(s1);
        s1 = s1.wrapping_add(x1).wrapping_add(s0);
    }
    (s0, s1)
}

/// Reads the WAL `path` (a missing or empty file is an empty log). `database_page_size` is used
/// when the WAL's own header is unreadable.
pub(crate) fn scan(path: &Path, database_page_size: usize) -> std::io::Result<WalScan> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(WalScan::default()),
        Err(e) => return Err(e),
    };
    Ok(scan_bytes(&bytes, database_page_size))
}

fn scan_bytes(bytes: &[u8], database_page_size: usize) -> WalScan {
    if bytes.len() < HEADER {
        // SQLite writes the header before any frame: a shorter file holds no commit.
        return WalScan::default();
    }
    let magic = word(bytes, 0);
    let header_page_size = usize::try_from(word(bytes, 8)).unwrap_or(0);
    let header_intact = magic & !1 == MAGIC && {
        let big_endian = magic & 1 == 1;
        checksum(&bytes[..24], (0, 0), big_endian) == (word(bytes, 24), word(bytes, 28))
    };
    let (page_size, salts, big_endian, seed) = if header_intact {
        (
            header_page_size,
            (word(bytes, 16), word(bytes, 20)),
            magic & 1 == 1,
            (word(bytes, 24), word(bytes, 28)),
        )
    } else {
        // SQLite ignores a WAL whose header fails: every commit in it is lost to it. The first
        // frame's salts name the current log; the first frame itself cannot be verified (its
        // seed was in the header), the ones after it can. The byte order is this machine's,
        // which wrote the file.
        let page_size = database_page_size;
        if bytes.len() < HEADER + FRAME_HEADER + page_size {
            return WalScan {
                page_size,
                frames: Vec::new(),
                damage: Some("the write-ahead log's header is damaged".into()),
            };
        }
        (
            page_size,
            (word(bytes, HEADER + 8), word(bytes, HEADER + 12)),
            cfg!(target_endian = "big"),
            (0, 0),
        )
    };
    if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
        return WalScan {
            page_size,
            frames: Vec::new(),
            damage: (!header_intact).then(|| "the write-ahead log's header is damaged".into()),
        };
    }

    let frame_size = FRAME_HEADER + page_size;
    let mut seed = seed;
    let mut frames = Vec::new();
    let mut pending = Vec::new();
    // Where SQLite's own reading stops: the first frame that does not verify in sequence.
    let mut chain_intact = header_intact;
    let mut sqlite_stops_at = None;
    let mut lost_commits = 0u64;
    let mut bad_frames = 0u64;
    for (index, frame) in bytes[HEADER..].chunks_exact(frame_size).enumerate() {
        let stored = (word(frame, 16), word(frame, 20));
        let ours = (word(frame, 8), word(frame, 12)) == salts;
        let page = word(frame, 0);
        let commit = word(frame, 4) != 0;
        let mut data = Vec::with_capacity(8 + page_size);
        data.extend_from_slice(&frame[..8]);
        data.extend_from_slice(&frame[FRAME_HEADER..]);
        let verified = ours && page != 0 && checksum(&data, seed, big_endian) == stored;
        if verified {
            pending.push((page, frame[FRAME_HEADER..].to_vec()));
            if commit {
                if !chain_intact {
                    lost_commits += 1;
                }
                frames.append(&mut pending);
            }
        } else {
            if chain_intact {
                chain_intact = false;
                sqlite_stops_at = Some(index);
            }
            if ours {
                bad_frames += 1;
            }
            // The transaction this frame belonged to cannot be replayed whole.
            pending.clear();
        }
        // The next frame is verified from what this one stored, whether or not this one was.
        seed = stored;
    }
    let damage = if !header_intact {
        Some(format!(
            "the write-ahead log's header is damaged ({lost_commits} intact commits after it)"
        ))
    } else if lost_commits > 0 {
        Some(format!(
            "the write-ahead log is damaged at frame {} ({} damaged frames, {lost_commits} intact \
             commits after them)",
            sqlite_stops_at.unwrap_or(0) + 1,
            bad_frames.max(1)
        ))
    } else {
        // A last frame that fails is a write cut short by a crash (the frame header is written
        // before its page): normal, and nothing committed is in it.
        None
    };
    WalScan {
        page_size,
        frames,
        damage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL of `commits` one-frame transactions of 512-byte pages, as SQLite writes it.
    fn wal(commits: u32) -> Vec<u8> {
        let page_size = 512usize;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC.to_be_bytes());
        bytes.extend_from_slice(&3_007_000u32.to_be_bytes());
        bytes.extend_from_slice(&u32::try_from(page_size).expect("small").to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        bytes.extend_from_slice(&0x9abc_def0u32.to_be_bytes());
        let mut seed = checksum(&bytes, (0, 0), false);
        bytes.extend_from_slice(&seed.0.to_be_bytes());
        bytes.extend_from_slice(&seed.1.to_be_bytes());
        for n in 1..=commits {
            let mut header = Vec::new();
            header.extend_from_slice(&n.to_be_bytes());
            header.extend_from_slice(&n.to_be_bytes());
            header.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            header.extend_from_slice(&0x9abc_def0u32.to_be_bytes());
            let page = vec![u8::try_from(n % 251).expect("small"); page_size];
            let mut data = header[..8].to_vec();
            data.extend_from_slice(&page);
            seed = checksum(&data, seed, false);
            header.extend_from_slice(&seed.0.to_be_bytes());
            header.extend_from_slice(&seed.1.to_be_bytes());
            bytes.extend_from_slice(&header);
            bytes.extend_from_slice(&page);
        }
        bytes
    }

    #[test]
    fn an_intact_log_replays_every_commit() {
        let scan = scan_bytes(&wal(10), 4096);
        assert_eq!(scan.damage, None);
        assert_eq!(scan.page_size, 512);
        assert_eq!(
            scan.frames
                .iter()
                .map(|(page, _)| *page)
                .collect::<Vec<_>>(),
            (1..=10).collect::<Vec<u32>>()
        );
    }

    #[test]
    fn a_torn_last_frame_is_a_crash_not_damage() {
        let mut bytes = wal(10);
        let len = bytes.len();
        // The last frame's page was not written: its checksum fails.
        bytes[len - 100..].fill(0xee);
        let scan = scan_bytes(&bytes, 4096);
        assert_eq!(scan.damage, None);
        assert_eq!(scan.frames.len(), 9);
        // Cut in the middle of a frame: the same.
        let scan = scan_bytes(&wal(10)[..len - 300], 4096);
        assert_eq!((scan.damage, scan.frames.len()), (None, 9));
    }

    #[test]
    fn garbage_in_the_middle_is_damage_and_the_commits_after_it_are_kept() {
        let mut bytes = wal(10);
        let frame = FRAME_HEADER + 512;
        // Frame 4 (index 3) overwritten.
        let at = HEADER + 3 * frame;
        bytes[at..at + frame].fill(0x5a);
        let scan = scan_bytes(&bytes, 4096);
        assert!(
            scan.damage
                .as_deref()
                .is_some_and(|d| d.contains("frame 4")),
            "{:?}",
            scan.damage
        );
        // Frame 5 cannot be verified either (its seed was in frame 4's header).
        assert_eq!(
            scan.frames
                .iter()
                .map(|(page, _)| *page)
                .collect::<Vec<_>>(),
            [1, 2, 3, 6, 7, 8, 9, 10]
        );
    }

    #[test]
    fn a_damaged_header_is_damage() {
        let mut bytes = wal(4);
        bytes[..HEADER].fill(0);
        let scan = scan_bytes(&bytes, 512);
        assert!(scan.damage.is_some());
        assert_eq!(
            scan.frames
                .iter()
                .map(|(page, _)| *page)
                .collect::<Vec<_>>(),
            [2, 3, 4]
        );
        // Too short for a frame: nothing to replay, still damage.
        assert!(scan_bytes(&bytes[..40], 512).damage.is_some());
        // No header at all: an empty log.
        assert!(scan_bytes(&bytes[..10], 512).damage.is_none());
    }
}
