//! Errors as HTTP answers: the status comes from the code table (`crate::error::ErrorCode`), the
//! body is always `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::error::{Error, ErrorCode};

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({ "error": { "code": self.code().as_str(), "message": message } });
        if let Some(field) = self.field() {
            body["error"]["field"] = json!(field);
        }
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after_secs() {
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        res.json(body)
    }
}

/// Turns actix's JSON extraction failures into the same error body.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
            Error::PayloadTooLarge(format!("the request body is larger than {limit} bytes")).into()
        }
        J::ContentType => Error::BadRequest {
            code: ErrorCode::UnsupportedContentType,
            message: "send the body as application/json".into(),
        }
        .into(),
        other => Error::BadRequest { code: ErrorCode::InvalidJson, message: other.to_string() }.into(),
    }
}

/// Query string extraction failures.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    Error::BadRequest { code: ErrorCode::InvalidQuery, message: err.to_string() }.into()
}

/// Path extraction failures (e.g. a malformed id).
pub fn path_error(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    Error::BadRequest { code: ErrorCode::InvalidPath, message: err.to_string() }.into()
}
