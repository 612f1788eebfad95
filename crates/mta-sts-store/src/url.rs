//! Where a store is: `sqlite:PATH` or a PostgreSQL URL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::StoreError;

/// The SQLite file used when no store is named. Its directory is created on first use, for its
/// owner alone, as the daemon's cache directory is.
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/mta-sts/mta-sts.db";

/// Where a store is kept.
///
/// Read from `sqlite:PATH` (also `sqlite://PATH`, so `sqlite:///var/lib/x.db` is the absolute
/// path), `postgres://...` or `postgresql://...` (libpq's URL form, checked by tokio-postgres).
/// It prints (`Display`, `Debug`) with any password replaced by `***`, because servers log their
/// store at start-up and errors name it; [`StoreUrl::Postgres`] holds the URL as written.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file: the embedded default, for one machine.
    Sqlite(PathBuf),
    /// A PostgreSQL database, shared by a fleet: the URL as written, password included.
    Postgres(String),
}

impl Default for StoreUrl {
    /// `sqlite:` [`DEFAULT_SQLITE_PATH`].
    fn default() -> StoreUrl {
        StoreUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<StoreUrl, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: redact(text),
            reason,
        };
        match text.split_once(':') {
            Some(("sqlite", path)) => {
                let path = path.strip_prefix("//").unwrap_or(path);
                if path.is_empty() {
                    return Err(invalid(
                        "it names no file; write sqlite:PATH, e.g. sqlite:/var/lib/mta-sts/mta-sts.db"
                            .into(),
                    ));
                }
                Ok(StoreUrl::Sqlite(PathBuf::from(path)))
            }
            Some(("postgres" | "postgresql", _)) => {
                tokio_postgres::Config::from_str(text).map_err(|e| {
                    invalid(format!(
                        "it is not a usable PostgreSQL URL ({e}); write \
                         postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                    ))
                })?;
                Ok(StoreUrl::Postgres(text.to_string()))
            }
            _ => Err(invalid(
                "it is neither sqlite:PATH nor postgres://USER:PASSWORD@HOST:PORT/DATABASE".into(),
            )),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// `url` with the password of its user part and any `password=` parameter replaced by `***`.
///
/// Written by hand because the URL is only ever printed, never rebuilt: a full URL parser would
/// be a dependency for one substitution, and libpq URLs (several hosts, sockets as hosts) are not
/// all WHATWG URLs anyway.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // As tokio-postgres reads it: the user part is everything up to the first `@`, so a
    // password may hold `/`, `?` or `#`.
    let location = match rest.split_once('@') {
        Some((user_info, after)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{after}"),
            None => format!("{user_info}@{after}"),
        },
        None => rest.to_string(),
    };
    let Some((before_query, query)) = location.split_once('?') else {
        return format!("{scheme}://{location}");
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{scheme}://{before_query}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests;
