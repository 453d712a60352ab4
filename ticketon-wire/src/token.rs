//! The admission token: an HS256 JWT that the queue-server signs when it
//! admits a fan and the reservation-api verifies with the same shared secret.
//!
//! It is a plain JWT on purpose: any JWT library can verify it, and the
//! reservation-api needs no call to the queue-server to trust an admission.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `iss` claim of every admission token.
pub const ADMISSION_ISSUER: &str = "ticketon-queue";

/// Claims of an admission token. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionClaims {
    /// The fan's userId.
    pub sub: String,
    /// The queueId the fan was admitted from.
    pub qid: String,
    /// The entryId of the fan's place in that queue.
    pub eid: String,
    pub iat: i64,
    /// Admission time plus the queue's session TTL.
    pub exp: i64,
    pub iss: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the admission token has expired")]
    Expired,
    #[error("the admission token is malformed or its signature does not match")]
    Invalid,
}

impl AdmissionClaims {
    pub fn sign(&self, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            self,
            &EncodingKey::from_secret(secret),
        )
        // HS256 signing of a serializable struct has no failure path.
        .expect("HS256 signing cannot fail")
    }

    /// Verifies signature, issuer and expiry (no leeway: an admission ends
    /// exactly when the queue-server said it would).
    pub fn verify(token: &str, secret: &[u8]) -> Result<Self, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ADMISSION_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<AdmissionClaims>(
            token,
            &DecodingKey::from_secret(secret),
            &validation,
        )
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AdmissionClaims {
        AdmissionClaims {
            sub: "user-1".into(),
            qid: "concert-2026".into(),
            eid: "abc".into(),
            iat: 1_700_000_000,
            exp,
            iss: ADMISSION_ISSUER.into(),
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn a_signed_token_verifies_with_the_same_secret() {
        let c = claims(now() + 600);
        let token = c.sign(b"secret");
        assert_eq!(AdmissionClaims::verify(&token, b"secret").unwrap(), c);
    }

    #[test]
    fn another_secret_or_a_tampered_token_is_invalid() {
        let token = claims(now() + 600).sign(b"secret");
        assert_eq!(
            AdmissionClaims::verify(&token, b"other"),
            Err(TokenError::Invalid)
        );
        let mut tampered = token.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            AdmissionClaims::verify(&tampered, b"secret"),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let token = claims(now() - 1).sign(b"secret");
        assert_eq!(
            AdmissionClaims::verify(&token, b"secret"),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_of_another_issuer_is_invalid() {
        let mut c = claims(now() + 600);
        c.iss = "someone-else".into();
        let token = c.sign(b"secret");
        assert_eq!(
            AdmissionClaims::verify(&token, b"secret"),
            Err(TokenError::Invalid)
        );
    }
}
