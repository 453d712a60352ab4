//! The id in a path, as the handlers take it: axum's own `Path` extractor
//! answers an undecodable segment (`%FF`) in plain text, outside the API's
//! error shape; this one answers 404 `not_found`, since no resource can
//! have such an id.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::{Error, ErrorCode};

/// The one `{…}` segment of a route's path.
#[derive(Debug)]
pub(super) struct Id(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(e) => Err(Error::rejected(
                ErrorCode::NotFound,
                format!("no such resource: {}", e.body_text()),
            )),
        }
    }
}
