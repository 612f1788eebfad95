//! Secrets (the webhook key, the relay password) come from a file or the environment, never
//! from the configuration file itself, which is often world-readable or kept in version control.

use std::path::Path;

use crate::error::AlertError;

/// A secret's bytes; never printed.
pub(crate) struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Reads the secret from `file` (its content, one final newline dropped: editors add one)
    /// or the environment variable `env`; exactly one must be given.
    pub(crate) fn load(
        key: &'static str,
        what: &'static str,
        file: Option<&Path>,
        env: Option<&str>,
    ) -> Result<Secret, AlertError> {
        match (file, env) {
            (Some(path), None) => {
                let mut bytes = std::fs::read(path).map_err(|source| AlertError::ReadFile {
                    what,
                    path: path.to_path_buf(),
                    source,
                })?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                Ok(Secret(bytes))
            }
            (None, Some(name)) => std::env::var(name)
                .map(|value| Secret(value.into_bytes()))
                .map_err(|_| AlertError::MissingEnv {
                    what,
                    name: name.to_string(),
                }),
            (Some(_), Some(_)) => Err(AlertError::Setting {
                key,
                message: format!(
                    "give the {what} either in a file or in the environment, not both"
                ),
            }),
            (None, None) => Err(AlertError::Setting {
                key,
                message: format!(
                    "the {what} is missing: give a file holding it or the environment variable \
                     to read it from"
                ),
            }),
        }
    }

    /// The bytes.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_loses_its_final_newline_only() {
        let dir = std::env::temp_dir().join(format!("mta-sts-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("make the directory");
        let path = dir.join("secret");
        std::fs::write(&path, b"  s3cret \r\n").expect("write");
        let secret = Secret::load("k", "secret", Some(&path), None).expect("read");
        assert_eq!(secret.expose(), b"  s3cret ");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn exactly_one_source_is_needed() {
        let both = Secret::load("k", "secret", Some(Path::new("/x")), Some("X"));
        assert!(matches!(both, Err(AlertError::Setting { .. })));
        let neither = Secret::load("k", "secret", None, None);
        assert!(matches!(neither, Err(AlertError::Setting { .. })));
        let missing = Secret::load(
            "k",
            "secret",
            None,
            Some("MTA_STS_TEST_SURELY_UNSET_VARIABLE"),
        );
        assert!(matches!(missing, Err(AlertError::MissingEnv { .. })));
        let unreadable = Secret::load("k", "secret", Some(Path::new("/nonexistent/secret")), None);
        assert!(matches!(unreadable, Err(AlertError::ReadFile { .. })));
    }
}
