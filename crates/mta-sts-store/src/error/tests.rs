use std::path::PathBuf;

use rusqlite::ffi;

use super::*;

fn sqlite(code: std::os::raw::c_int) -> StoreError {
    StoreError::Sqlite {
        path: PathBuf::from("/var/lib/mta-sts/mta-sts.db"),
        operation: "inserting reports",
        source: rusqlite::Error::SqliteFailure(ffi::Error::new(code), None),
    }
}

#[test]
fn a_busy_full_or_read_only_sqlite_store_is_worth_retrying() {
    for code in [
        ffi::SQLITE_BUSY,
        ffi::SQLITE_LOCKED,
        ffi::SQLITE_FULL,
        ffi::SQLITE_READONLY,
        ffi::SQLITE_IOERR,
        ffi::SQLITE_CANTOPEN,
    ] {
        let error = sqlite(code);
        assert!(error.is_unavailable(), "{error}");
    }
}

#[test]
fn bad_data_and_foreign_or_newer_stores_are_not_worth_retrying() {
    for code in [
        ffi::SQLITE_CONSTRAINT,
        ffi::SQLITE_NOTADB,
        ffi::SQLITE_CORRUPT,
        ffi::SQLITE_MISMATCH,
    ] {
        let error = sqlite(code);
        assert!(!error.is_unavailable(), "{error}");
    }
    let newer = StoreError::NewerSchema {
        store: "sqlite:/x.db".into(),
        schema: "reports",
        found: 3,
        supported: 1,
    };
    assert!(!newer.is_unavailable());
    let foreign = StoreError::NotOurs {
        store: "sqlite:/x.db".into(),
        schema: "reports",
        reason: "its application_id is 0x0000002a".into(),
    };
    assert!(!foreign.is_unavailable());
}

#[test]
fn a_directory_that_cannot_be_made_for_lack_of_space_is_worth_retrying() {
    let error = |kind| StoreError::CreateDirectory {
        path: PathBuf::from("/var/lib/mta-sts"),
        source: std::io::Error::from(kind),
    };
    assert!(error(std::io::ErrorKind::StorageFull).is_unavailable());
    assert!(error(std::io::ErrorKind::ReadOnlyFilesystem).is_unavailable());
    assert!(!error(std::io::ErrorKind::NotADirectory).is_unavailable());
}
