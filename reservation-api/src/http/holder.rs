//! The caller of the reservation and ticket read/cancel endpoints: a buyer
//! with an admission token whose purchase session is still live, or with
//! the access token handed out at payment (which outlives the session but
//! opens one reservation only).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ticketon_wire::{AdmissionClaims, TokenError};

use super::auth::bearer;
use super::AppState;
use crate::error::{Error, ErrorCode};
use crate::payments::Holder;

impl FromRequestParts<AppState> for Holder {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Error> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(Error::rejected(
                ErrorCode::TokenMissing,
                "send the admission token or the access token as Authorization: Bearer <token>",
            ));
        };
        match AdmissionClaims::verify(token, &st.token_secret) {
            Ok(claims) => {
                if let Some(status) = st.svc.session_status(&claims.eid).await? {
                    if !status.is_active() {
                        return Err(Error::rejected(
                            ErrorCode::SessionEnded,
                            format!(
                                "this admission's session has ended ({}); use the accessToken \
                                 returned with the payment",
                                status.as_str()
                            ),
                        ));
                    }
                }
                Ok(Holder {
                    user_id: claims.sub,
                    reservation_id: None,
                })
            }
            Err(TokenError::Expired) => Err(Error::rejected(
                ErrorCode::TokenExpired,
                TokenError::Expired.to_string(),
            )),
            Err(TokenError::Invalid) => {
                let claims = st.payments.keys.verify_access(token)?;
                Ok(Holder {
                    user_id: claims.sub,
                    reservation_id: Some(claims.rid),
                })
            }
        }
    }
}
