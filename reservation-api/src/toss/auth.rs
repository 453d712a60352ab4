//! Toss's HTTP Basic authentication: the secret key is the user name, the
//! password is empty, so the credentials are `base64("secretKey:")`.
//!
//! The client builds the header and the sandbox checks it with the same
//! code, so the two cannot disagree about the format (the trailing colon is
//! the classic mistake, and Toss has a dedicated error code for it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The `Authorization` header value for `secret_key`.
pub fn basic_auth_value(secret_key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{secret_key}:")))
}

/// Why a request's credentials were refused, named after Toss's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthFailure {
    /// Not `Basic <base64 of "key:">` (missing colon, bad base64, other scheme).
    IncorrectFormat,
    /// Well-formed, but not the secret key.
    UnauthorizedKey,
}

/// Checks an `Authorization` header against the expected secret key.
pub(super) fn check_basic_auth(header: Option<&str>, secret_key: &str) -> Result<(), AuthFailure> {
    let header = header.ok_or(AuthFailure::UnauthorizedKey)?;
    let encoded = header
        .strip_prefix("Basic ")
        .ok_or(AuthFailure::IncorrectFormat)?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthFailure::IncorrectFormat)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthFailure::IncorrectFormat)?;
    let (user, password) = text.split_once(':').ok_or(AuthFailure::IncorrectFormat)?;
    // Constant-time comparison is not worth a dependency here: the sandbox
    // guards no money, and the real check happens at Toss.
    if user == secret_key && password.is_empty() {
        Ok(())
    } else {
        Err(AuthFailure::UnauthorizedKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_encodes_the_key_with_a_trailing_colon() {
        // base64("test_sk:") == "dGVzdF9zazo="
        assert_eq!(basic_auth_value("test_sk"), "Basic dGVzdF9zazo=");
    }

    #[test]
    fn the_right_key_passes_and_others_fail() {
        let good = basic_auth_value("sk_1");
        assert_eq!(check_basic_auth(Some(&good), "sk_1"), Ok(()));
        assert_eq!(
            check_basic_auth(Some(&basic_auth_value("sk_2")), "sk_1"),
            Err(AuthFailure::UnauthorizedKey)
        );
        assert_eq!(
            check_basic_auth(None, "sk_1"),
            Err(AuthFailure::UnauthorizedKey)
        );
    }

    #[test]
    fn a_missing_colon_or_other_scheme_is_a_format_error() {
        let no_colon = format!("Basic {}", STANDARD.encode("sk_1"));
        assert_eq!(
            check_basic_auth(Some(&no_colon), "sk_1"),
            Err(AuthFailure::IncorrectFormat)
        );
        assert_eq!(
            check_basic_auth(Some("Bearer abc"), "sk_1"),
            Err(AuthFailure::IncorrectFormat)
        );
        assert_eq!(
            check_basic_auth(Some("Basic !!!"), "sk_1"),
            Err(AuthFailure::IncorrectFormat)
        );
    }
}
