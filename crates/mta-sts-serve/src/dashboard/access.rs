//! Who may read the dashboard: users with argon2 password hashes, server-side sessions behind a
//! random cookie, bearer tokens for the API, and the rate limits on login attempts.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use mta_sts_service::{RateLimiter, ServiceError};
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::{ServeConfig, TokenConfig, UserConfig};
use crate::error::ServeError;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "mta-sts-session";

/// Sessions held at once; beyond, expired ones are dropped, then the oldest (a flood of logins
/// cannot grow memory without bound, and only logged-in users make sessions).
const MAX_SESSIONS: usize = 10_000;

/// A user who may log in.
struct User {
    name: String,
    hash: PasswordHash,
}

/// An API token, by the SHA-256 of its text.
struct Token {
    name: String,
    digest: [u8; 32],
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The user's name.
    pub(crate) user: String,
    /// The token every form of this session carries (see `csrf`).
    pub(crate) csrf: String,
    expires: Instant,
    created: Instant,
}

/// Who is asking, once authenticated: what the pages and the API are given.
#[derive(Debug, Clone)]
pub(crate) enum Viewer {
    /// A browser with a session.
    User(Session),
    /// A script with a bearer token (only the API accepts one; its name is logged when used).
    Token,
}

/// Why a login was refused: each is answered differently.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    /// Too many attempts from this client or for this user; try again after this long.
    TooMany(Duration),
    /// The name or the password is wrong (which one is not said).
    Wrong,
    /// No user is configured at all.
    NoUsers,
}

/// The users, the tokens and the sessions.
pub(crate) struct Access {
    users: Vec<User>,
    tokens: Vec<Token>,
    sessions: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
    per_client: RateLimiter,
    /// Keyed by the user's index among `users` (as an IPv4 address, which the limiter keys
    /// by); every unknown name shares the index after the last user.
    per_user: RateLimiter,
    random: SystemRandom,
    /// A hash verified when the user name is unknown, so that the answer takes as long as for
    /// a known name with a wrong password (the time does not tell which names exist). Its
    /// password is random and forgotten.
    decoy: PasswordHash,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("users", &self.users.len())
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The users and tokens of a checked configuration.
    pub(crate) fn new(config: &ServeConfig) -> Result<Access, ServeError> {
        let users = config
            .users
            .iter()
            .map(|user| {
                Ok(User {
                    name: user.name.clone(),
                    hash: parse_password_hash(user)?,
                })
            })
            .collect::<Result<_, ServeError>>()?;
        let tokens = config
            .tokens
            .iter()
            .map(|token| {
                Ok(Token {
                    name: token.name.clone(),
                    digest: parse_token_hash(token)?,
                })
            })
            .collect::<Result<_, ServeError>>()?;
        let per_minute = config.dashboard.logins_per_minute;
        let random = SystemRandom::new();
        let mut secret = [0u8; 32];
        random.fill(&mut secret).map_err(|_| random_failed())?;
        let decoy = hash_password(&hex(&secret))?;
        let decoy = PasswordHash::new(&decoy)
            .map_err(|e| ServeError::Service(format!("the password could not be hashed: {e}")))?;
        Ok(Access {
            users,
            tokens,
            sessions: Mutex::new(HashMap::new()),
            lifetime: config.dashboard.session_lifetime,
            per_client: RateLimiter::per_minute(per_minute),
            per_user: RateLimiter::per_minute(per_minute),
            random,
            decoy,
        })
    }

    /// Whether anyone at all can log in or use the API.
    pub(crate) fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether any API token is configured.
    pub(crate) fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks a login attempt from `client` (rate limits first, then the password, off the
    /// async workers: argon2 takes tens of milliseconds by design) and opens a session.
    pub(crate) async fn login(
        &self,
        client: IpAddr,
        name: &str,
        password: &str,
        now: Instant,
    ) -> Result<(String, Session), LoginRefusal> {
        if self.users.is_empty() {
            return Err(LoginRefusal::NoUsers);
        }
        let index = self
            .users
            .iter()
            .position(|user| user.name == name)
            .unwrap_or(self.users.len());
        let user_key = IpAddr::V4(Ipv4Addr::from(u32::try_from(index).unwrap_or(u32::MAX)));
        for (limiter, key) in [(&self.per_client, client), (&self.per_user, user_key)] {
            if let Err(error) = limiter.take(key, now) {
                return Err(LoginRefusal::TooMany(match error {
                    ServiceError::RateLimited { retry_after } => retry_after,
                    _ => Duration::from_secs(60),
                }));
            }
        }
        let hash = match self.users.get(index) {
            Some(user) => user.hash.clone(),
            None => self.decoy.clone(),
        };
        let password = password.as_bytes().to_vec();
        let verified = tokio::task::spawn_blocking(move || {
            Argon2::default().verify_password(&password, &hash).is_ok()
        })
        .await
        .unwrap_or(false);
        if !verified || index == self.users.len() {
            return Err(LoginRefusal::Wrong);
        }
        let id = self.random_hex().ok_or(LoginRefusal::Wrong)?;
        let session = Session {
            user: name.to_string(),
            csrf: self.random_hex().ok_or(LoginRefusal::Wrong)?,
            expires: now + self.lifetime,
            created: now,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, session| session.expires > now);
        }
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.created)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this cookie value, if any (an expired one is dropped).
    pub(crate) fn session(&self, id: &str, now: Instant) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        match sessions.get(id) {
            // A user removed from the configuration loses their sessions at once.
            Some(session)
                if session.expires > now && self.users.iter().any(|u| u.name == session.user) =>
            {
                Some(session.clone())
            }
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session (logout).
    pub(crate) fn end_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// The name of the token whose SHA-256 matches `presented`, if any.
    pub(crate) fn token(&self, presented: &str) -> Option<String> {
        let digest = ring::digest::digest(&ring::digest::SHA256, presented.as_bytes());
        self.tokens
            .iter()
            .find(|token| constant_time_eq(&token.digest, digest.as_ref()))
            .map(|token| token.name.clone())
    }

    /// How long a session lasts.
    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// 256 random bits in hex, or `None` when the system's generator fails (nothing is then
    /// handed out).
    fn random_hex(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        Some(hex(&bytes))
    }

    /// Moves the sessions of `previous` over (a reload keeps everyone logged in).
    pub(crate) fn keep_sessions_of(&self, previous: &Access) {
        let old = std::mem::take(
            &mut *previous
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(old);
    }
}

/// Compares two byte strings in time that depends only on their lengths (a token or CSRF
/// value must not be guessable byte by byte from response times).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A PHC string for `password`: argon2id with the crate's default (OWASP) parameters and a
/// 16-byte salt from the system's generator. What `mta-sts serve hash-password` prints.
pub fn hash_password(password: &str) -> Result<String, ServeError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| random_failed())?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ServeError::Service(format!("the password could not be hashed: {e}")))
}

fn random_failed() -> ServeError {
    ServeError::Service("the system's random number generator failed".to_string())
}

pub(crate) fn parse_password_hash(user: &UserConfig) -> Result<PasswordHash, ServeError> {
    let bad = |message: String| ServeError::ConfigValue {
        key: "users.password_hash".to_string(),
        message,
    };
    let hash = PasswordHash::new(&user.password_hash).map_err(|e| {
        bad(format!(
            "the hash of user `{}` is not a PHC string ({e}); make one with `mta-sts serve \
             hash-password`",
            user.name
        ))
    })?;
    if !hash.algorithm.as_str().starts_with("argon2") {
        return Err(bad(format!(
            "the hash of user `{}` is {}, not argon2; make one with `mta-sts serve hash-password`",
            user.name, hash.algorithm
        )));
    }
    Ok(hash)
}

pub(crate) fn parse_token_hash(token: &TokenConfig) -> Result<[u8; 32], ServeError> {
    let text = token.token_hash.trim();
    let mut digest = [0u8; 32];
    let valid = text.len() == 64
        && text.is_ascii()
        && digest.iter_mut().enumerate().all(|(i, byte)| {
            text.get(2 * i..2 * i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .map(|value| *byte = value)
                .is_some()
        });
    if valid {
        Ok(digest)
    } else {
        Err(ServeError::ConfigValue {
            key: "tokens.token_hash".to_string(),
            message: format!(
                "the hash of token `{}` is not a SHA-256 in hex (64 digits 0-9 a-f); make it \
                 with `printf %s TOKEN | sha256sum`",
                token.name
            ),
        })
    }
}

#[cfg(test)]
mod tests;
