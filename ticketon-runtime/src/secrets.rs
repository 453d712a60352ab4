//! The two secrets of a deployment: the admin key (Bearer for the admin
//! endpoints) and the token secret (HS256 key of admission tokens and entry
//! ids, shared by every queue-server and the reservation-api).
//!
//! Unset, they are generated for this run so that a first start needs no
//! setup, with one warning that shows the admin key (the operator needs it)
//! and never the token secret.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The shortest token secret a service starts with: an HMAC-SHA256 key
/// should be at least as long as the hash (RFC 7518, 3.2), and a short one
/// can be guessed offline from any admission token a fan holds.
pub const MIN_TOKEN_SECRET_BYTES: usize = 32;

/// A configured secret a service refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakSecret {
    pub bytes: usize,
}

impl fmt::Display for WeakSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TICKETON_TOKEN_SECRET is {} bytes; it must be at least {MIN_TOKEN_SECRET_BYTES} \
             (generate one with `openssl rand -base64 32`), or unset it for a development \
             run with a generated secret",
            self.bytes
        )
    }
}

impl std::error::Error for WeakSecret {}

/// The secrets a service runs with, after filling in generated ones.
#[derive(Clone)]
pub struct Secrets {
    pub admin_key: String,
    pub token_secret: String,
}

// Hand-written so that neither secret reaches a log line.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("admin_key", &"<redacted>")
            .field("token_secret", &"<redacted>")
            .finish()
    }
}

impl Secrets {
    /// Uses the configured secrets (empty counts as unset) and generates the
    /// missing ones; `service` names who warns. A configured token secret
    /// shorter than [`MIN_TOKEN_SECRET_BYTES`] is refused.
    pub fn resolve(
        admin_key: Option<String>,
        token_secret: Option<String>,
        service: &str,
    ) -> Result<Self, WeakSecret> {
        let admin_key = admin_key.filter(|k| !k.is_empty());
        let token_secret = token_secret.filter(|k| !k.is_empty());
        if let Some(secret) = &token_secret {
            if secret.len() < MIN_TOKEN_SECRET_BYTES {
                return Err(WeakSecret {
                    bytes: secret.len(),
                });
            }
        }
        let generated_admin = admin_key.is_none();
        let generated_token = token_secret.is_none();
        let secrets = Secrets {
            admin_key: admin_key.unwrap_or_else(generate_secret),
            token_secret: token_secret.unwrap_or_else(generate_secret),
        };
        // One warning, however much was generated: a first start should
        // say it once, not scroll the operator's screen.
        const TOKEN_NOTE: &str = "a random token secret was generated (admission tokens will \
                                  not verify in another process or after a restart)";
        match (generated_admin, generated_token) {
            (false, false) => {}
            (true, generated_token) => tracing::warn!(
                "{service}: TICKETON_ADMIN_KEY is unset, generated admin key for this run: {}{}",
                secrets.admin_key,
                if generated_token {
                    format!("; TICKETON_TOKEN_SECRET is unset too, so {TOKEN_NOTE}")
                } else {
                    String::new()
                }
            ),
            (false, true) => {
                tracing::warn!("{service}: TICKETON_TOKEN_SECRET is unset, so {TOKEN_NOTE}")
            }
        }
        Ok(secrets)
    }
}

/// 256 random bits, URL-safe base64.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_are_kept_and_missing_ones_generated() {
        let s = Secrets::resolve(Some("adm".into()), None, "test").unwrap();
        assert_eq!(s.admin_key, "adm");
        assert_eq!(s.token_secret.len(), 43);
        let t = Secrets::resolve(Some(String::new()), None, "test").unwrap();
        assert_ne!(t.admin_key, "");
        assert_ne!(s.token_secret, t.token_secret);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let secret = "s3cret-s3cret-s3cret-s3cret-s3cret";
        let s = Secrets::resolve(Some("adm1n".into()), Some(secret.into()), "test").unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("adm1n") && !shown.contains(secret));
    }

    #[test]
    fn a_short_token_secret_is_refused() {
        let refused = Secrets::resolve(None, Some("change-me".into()), "test").unwrap_err();
        assert_eq!(refused, WeakSecret { bytes: 9 });
        assert!(refused.to_string().contains("at least 32"), "{refused}");
        let exactly = "x".repeat(MIN_TOKEN_SECRET_BYTES);
        assert!(Secrets::resolve(None, Some(exactly), "test").is_ok());
    }
}
