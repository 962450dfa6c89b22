//! The one place where errors become HTTP answers: each kind has one status, and the body is
//! always `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use schema::{ListError, StoreError, ValidationError};
use serde_json::json;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Routing rules that do not validate: `field` is the path of the first problem.
    #[error("{message}")]
    InvalidRules { field: String, message: String },
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The machine-readable code of the error body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Validation(ValidationError::TooLong { field: "text", .. }) => "message_too_long",
            Self::Validation(_) | Self::InvalidRules { .. } => "invalid_field",
            Self::TooManyRequests(_) => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::NotFound(what),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Unavailable(_) => Self::Unavailable("the store is unavailable; retry shortly".into()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::BadCursor(v) => Self::Validation(v),
            ListError::Store(s) => s.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) | Self::Validation(ValidationError::TooLong { field: "text", .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::Validation(_) | Self::InvalidRules { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({ "error": { "code": self.code(), "message": message } });
        match self {
            Self::Validation(v) => body["error"]["field"] = json!(v.field()),
            Self::InvalidRules { field, .. } => body["error"]["field"] = json!(field),
            _ => {}
        }
        HttpResponse::build(self.status_code()).json(body)
    }
}

/// Turns actix's JSON and query extraction failures into the same error body.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes")).into()
        }
        J::ContentType => ApiError::BadRequest {
            code: "unsupported_content_type",
            message: "send the body as application/json".into(),
        }
        .into(),
        other => ApiError::BadRequest { code: "invalid_json", message: other.to_string() }.into(),
    }
}

/// Query string extraction failures.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::BadRequest { code: "invalid_query", message: err.to_string() }.into()
}

/// Path extraction failures (e.g. a malformed id).
pub fn path_error(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::BadRequest { code: "invalid_path", message: err.to_string() }.into()
}
