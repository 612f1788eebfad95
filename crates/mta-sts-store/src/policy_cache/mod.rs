//! The daemon's policy cache on disk: one SQLite file, one table, one row per domain
//! ([`SqlitePolicyCache`]), and the entries it keeps ([`CacheEntry`] and its parts).
//!
//! It was the daemon's own (`mta-sts-policyd`'s `cache/sqlite.rs`) until the storage crate
//! existed; it now records its schema as a [`crate::Schema`] (the same `application_id` and
//! `user_version` it always wrote, so every file an earlier release wrote opens, version 1 files
//! migrated), and keeps its crash guarantees: WAL, an integrity check at every open, the salvage
//! of a damaged file ([`Salvage`]), and a read-only open that writes nothing.
//!
//! - [`entry`]: [`CacheEntry`], [`CachedPolicy`], [`DaneEntry`], [`NegativeEntry`],
//!   [`BackoffEntry`];
//! - [`SqlitePolicyCache`]: the file (see its module for the guarantees);
//! - [`Salvage`]: what was done with a damaged file.

pub mod entry;
mod salvage;
mod sqlite;

pub use entry::{BackoffEntry, CacheEntry, CachedPolicy, DaneEntry, NegativeEntry, NegativeReason};
pub use salvage::Salvage;
pub use sqlite::{APPLICATION_ID, SCHEMA, SCHEMA_VERSION, SqlitePolicyCache};
