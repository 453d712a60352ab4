//! The buyer's access token, handed out with a payment: payment ends the
//! admission session, yet the buyer must still reach the reservation and
//! its tickets for months.
//!
//! An HS256 JWT `{iss:"ticketon-reservation", aud:"ticketon-buyer", sub:
//! userId, rid: reservationId, iat, exp}` signed with a key *derived* from
//! the token secret (HMAC-SHA256 of a fixed label), not the secret itself:
//! the queue-server's admission tokens and these tokens can then never be
//! taken for one another, even though both services share that secret.
//! `iat` is the payment's settlement time, so the token of one payment is
//! the same string every time it is computed (a retried payment request
//! gets the same token back) and nothing needs storing.

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, ErrorCode};

pub const ACCESS_ISSUER: &str = "ticketon-reservation";
pub const ACCESS_AUDIENCE: &str = "ticketon-buyer";
/// How long an access token lives: a year covers any event sold today.
pub const ACCESS_TTL_SEC: i64 = 365 * 24 * 3600;

/// Derives a purpose-specific key from the token secret.
pub fn derive_key(secret: &[u8], label: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(label.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    /// The reservation this token opens.
    pub rid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Signing and checking access tokens and check-in codes.
#[derive(Clone)]
pub struct BuyerKeys {
    access: Vec<u8>,
    checkin: Vec<u8>,
}

// Hand-written: the keys sign access tokens and check-in codes.
impl std::fmt::Debug for BuyerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuyerKeys").finish_non_exhaustive()
    }
}

impl BuyerKeys {
    pub fn from_token_secret(secret: &[u8]) -> Self {
        BuyerKeys {
            access: derive_key(secret, "ticketon-reservation access-token v1"),
            checkin: derive_key(secret, "ticketon-reservation check-in v1"),
        }
    }

    /// The key a gate needs to verify check-in codes offline.
    pub fn checkin_key(&self) -> &[u8] {
        &self.checkin
    }

    /// The token of `user_id` for `reservation_id`, issued at `issued_at_ms`.
    pub fn access_token(&self, user_id: &str, reservation_id: &str, issued_at_ms: i64) -> String {
        let iat = issued_at_ms.div_euclid(1000);
        let claims = AccessClaims {
            sub: user_id.to_string(),
            rid: reservation_id.to_string(),
            iat,
            exp: iat.saturating_add(ACCESS_TTL_SEC),
            iss: ACCESS_ISSUER.into(),
            aud: ACCESS_AUDIENCE.into(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.access),
        )
        .expect("HS256 signing cannot fail")
    }

    /// Checks signature, issuer, audience and expiry.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ACCESS_ISSUER]);
        v.set_audience(&[ACCESS_AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 0;
        jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(&self.access), &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    Error::rejected(ErrorCode::TokenExpired, "the access token has expired")
                }
                _ => Error::rejected(ErrorCode::TokenInvalid, "the token is not valid here"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketon_wire::{AdmissionClaims, ADMISSION_ISSUER};

    #[test]
    fn access_tokens_verify_repeat_and_do_not_mix_with_admission_tokens() {
        let keys = BuyerKeys::from_token_secret(b"secret");
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let t = keys.access_token("u1", "r1", now_ms);
        assert_eq!(t, keys.access_token("u1", "r1", now_ms));
        let c = keys.verify_access(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.rid.as_str()), ("u1", "r1"));
        // Another secret, or an admission token signed with the raw secret: refused.
        assert!(BuyerKeys::from_token_secret(b"other")
            .verify_access(&t)
            .is_err());
        let admission = AdmissionClaims {
            sub: "u1".into(),
            qid: "q".into(),
            eid: "e".into(),
            iat: now_ms / 1000,
            exp: now_ms / 1000 + 60,
            iss: ADMISSION_ISSUER.into(),
        }
        .sign(b"secret");
        assert!(keys.verify_access(&admission).is_err());
        assert!(AdmissionClaims::verify(&t, b"secret").is_err());
        // Expired.
        let old = keys.access_token("u1", "r1", 1_000);
        assert!(matches!(
            keys.verify_access(&old),
            Err(Error::Rejected {
                code: ErrorCode::TokenExpired,
                ..
            })
        ));
    }
}
