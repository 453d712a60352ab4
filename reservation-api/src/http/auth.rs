//! Who is calling: admins (a shared key) and buyers (the queue-server's
//! admission JWT). As on the queue-server, a missing admin key is 401 and a
//! wrong one 403. Both are extractors, so a handler that needs a caller
//! cannot forget to check it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use ticketon_wire::{AdmissionClaims, TokenError};

use super::AppState;
use crate::error::{Error, ErrorCode};
use crate::service::Buyer;

/// Proof that the request carries the admin key, as `X-Admin-Key: <key>`
/// or `Authorization: Bearer <key>`.
#[derive(Debug)]
pub struct Admin;

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares in time independent of where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn is_admin(headers: &HeaderMap, admin_key: &str) -> bool {
    let given = headers
        .get("x-admin-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer(headers));
    given.is_some_and(|k| same_secret(k.as_bytes(), admin_key.as_bytes()))
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let present = parts.headers.contains_key("x-admin-key") || bearer(&parts.headers).is_some();
        if !present {
            return Err(Error::rejected(
                ErrorCode::AdminKeyRequired,
                "this endpoint needs the admin key",
            ));
        }
        if !is_admin(&parts.headers, &state.admin_key) {
            return Err(Error::rejected(
                ErrorCode::AdminKeyInvalid,
                "the admin key does not match",
            ));
        }
        Ok(Admin)
    }
}

impl FromRequestParts<AppState> for Buyer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(Error::rejected(
                ErrorCode::TokenMissing,
                "send the admission token as Authorization: Bearer <token>",
            ));
        };
        let claims = AdmissionClaims::verify(token, &state.token_secret).map_err(|e| match e {
            TokenError::Expired => Error::rejected(ErrorCode::TokenExpired, e.to_string()),
            TokenError::Invalid => Error::rejected(ErrorCode::TokenInvalid, e.to_string()),
        })?;
        Ok(Buyer {
            user_id: claims.sub,
            queue_id: claims.qid,
            entry_id: claims.eid,
            session_expires_at_ms: claims.exp.saturating_mul(1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn admin_key_is_accepted_from_either_header_and_compared_exactly() {
        let mut h = HeaderMap::new();
        h.insert("x-admin-key", HeaderValue::from_static("k1"));
        assert!(is_admin(&h, "k1"));
        assert!(!is_admin(&h, "k10"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        assert!(is_admin(&h, "k1"));
        assert!(!is_admin(&HeaderMap::new(), "k1"));
    }
}
