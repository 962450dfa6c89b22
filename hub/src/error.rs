//! The hub's errors: [`Error`], what every service returns, and [`ErrorCode`], the one table of
//! machine-readable codes with the HTTP status and meaning of each. Nothing here knows actix: the
//! HTTP layer (`http::error`) turns an [`Error`] into a response by this table, the SMTP sink
//! into an SMTP reply, a socket into an `error` frame. `docs/api.md` carries the table as
//! [`ErrorCode::markdown_table`] prints it (a test compares them).

use schema::{ListError, StoreError, ValidationError};

/// Declares [`ErrorCode`]: each code with its wire name, HTTP status and meaning, in one place.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($name:literal, $status:literal, $meaning:literal),)+) => {
        /// Every machine-readable error code the API answers with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The code as it appears in an error body.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)+ }
            }

            /// The HTTP status answered with this code.
            #[must_use]
            pub const fn status(self) -> u16 {
                match self { $(Self::$variant => $status,)+ }
            }

            /// What the code means, for the documentation.
            #[must_use]
            pub const fn meaning(self) -> &'static str {
                match self { $(Self::$variant => $meaning,)+ }
            }
        }
    };
}

error_codes! {
    InvalidJson = ("invalid_json", 400, "the body is not the JSON this endpoint takes"),
    UnsupportedContentType = ("unsupported_content_type", 400, "send the body as `application/json`"),
    InvalidQuery = ("invalid_query", 400, "a query parameter is missing, unknown or malformed"),
    InvalidPath = ("invalid_path", 400, "a path parameter is malformed (e.g. not an id)"),
    MalformedWebhook = ("malformed_webhook", 400, "a platform's webhook body does not parse"),
    UnsupportedObject = ("unsupported_object", 400, "a Meta webhook for an object other than a page or WhatsApp account"),
    MailBuildFailed = ("mail_build_failed", 400, "the reply mail cannot be built from this message"),
    InvalidAmount = ("invalid_amount", 400, "an amount that is not a positive decimal of the currency, or more than it may be; `field` names it"),
    Unauthorized = ("unauthorized", 401, "no valid session, token or signature"),
    StepUpRequired = ("step_up_required", 401, "a sensitive action: sign in again (`POST /api/v1/auth/step-up`), then retry"),
    Forbidden = ("forbidden", 403, "the caller's role does not allow this"),
    MfaEnrolmentRequired = ("mfa_enrolment_required", 403, "the caller's role requires two-step sign-in: set it up first (`/api/v1/auth/mfa`)"),
    LocalPasswordsDisabled = ("local_passwords_disabled", 403, "password sign-in is off on this hub: sign in with single sign-on"),
    NotFound = ("not_found", 404, "no such resource (or route)"),
    BssNotFound = ("bss_not_found", 404, "the billing system has no such record (customer, account, bill, product, offering)"),
    SsoDisabled = ("sso_disabled", 404, "single sign-on is not configured on this hub"),
    Conflict = ("conflict", 409, "the resource changed or is in a state that does not allow this"),
    HandleTaken = ("handle_taken", 409, "another customer holds this handle (e-mail address, phone number, platform id): merge the two customers instead"),
    MergeRefused = ("merge_refused", 409, "the customers cannot be merged: one is erased or already merged, or they are linked to different billing customers"),
    LegalHold = ("legal_hold", 409, "the customer is under legal hold: erasure waits until an administrator lifts it"),
    CustomerNotLinked = ("customer_not_linked", 409, "the conversation's customer is not linked to a customer of the billing system"),
    MessageTooLong = ("message_too_long", 413, "a message text over the configured length"),
    PayloadTooLarge = ("payload_too_large", 413, "a request body over its limit"),
    UnsupportedMediaType = ("unsupported_media_type", 415, "a file of a kind this endpoint does not take, or not the kind it claims"),
    InvalidField = ("invalid_field", 422, "a field does not validate; `field` names it"),
    BssRejected = ("bss_rejected", 422, "the billing system refused on its business rules (not eligible, over the balance, not adjustable); the message says why"),
    RateLimited = ("rate_limited", 429, "too many requests from this source; retry later"),
    Internal = ("internal", 500, "a fault of the hub (details only in its log)"),
    BssMalformed = ("bss_malformed", 502, "the billing system answered something its API does not document"),
    Unavailable = ("unavailable", 503, "the store or a channel does not answer, or is off; retry"),
    BssUnavailable = ("bss_unavailable", 503, "the billing system does not answer in time, fails, or its circuit breaker is open; retry shortly"),
}

impl ErrorCode {
    /// The table of codes as `docs/api.md` shows it: one row per status, its codes in order.
    #[must_use]
    pub fn markdown_table() -> String {
        let mut out = String::from("| status | code | meaning |\n|---|---|---|\n");
        for code in Self::ALL {
            out.push_str(&format!("| {} | `{}` | {} |\n", code.status(), code.as_str(), code.meaning()));
        }
        out
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a service of the hub fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed in a way that `code` names.
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    /// A field's value refused with its own code (`invalid_amount`), naming the field.
    #[error("{message}")]
    BadField { code: ErrorCode, field: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    StepUpRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    MfaEnrolmentRequired(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// The customer is under legal hold.
    #[error("{0}")]
    LegalHold(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Routing rules that do not validate: `field` is the path of the first problem.
    #[error("{message}")]
    InvalidRules { field: String, message: String },
    #[error("{0}")]
    TooManyRequests(String),
    /// Over a rate: 429 with `Retry-After` (whole seconds, at least 1).
    #[error("{message}")]
    RetryLater { message: String, after: std::time::Duration },
    #[error("{0}")]
    Unavailable(String),
    /// The billing system failed or refused (mapped to the `bss_*` codes).
    #[error(transparent)]
    Bss(#[from] bss::BssError),
    /// A fault of the hub; the detail goes to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// The machine-readable code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { code, .. } | Self::BadField { code, .. } => *code,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::StepUpRequired(_) => ErrorCode::StepUpRequired,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::MfaEnrolmentRequired(_) => ErrorCode::MfaEnrolmentRequired,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::LegalHold(_) => ErrorCode::LegalHold,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Validation(ValidationError::TooLong { field: "text", .. }) => ErrorCode::MessageTooLong,
            Self::Validation(_) | Self::InvalidRules { .. } => ErrorCode::InvalidField,
            Self::TooManyRequests(_) | Self::RetryLater { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Bss(e) => match e {
                bss::BssError::Unavailable(_) => ErrorCode::BssUnavailable,
                bss::BssError::NotFound { .. } => ErrorCode::BssNotFound,
                bss::BssError::Rejected { .. } => ErrorCode::BssRejected,
                bss::BssError::Malformed(_) => ErrorCode::BssMalformed,
                bss::BssError::Invalid(_) => ErrorCode::InvalidField,
            },
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// For a rate limit: how many whole seconds to wait before trying again (at least 1).
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RetryLater { after, .. } => Some(whole_seconds(*after)),
            _ => None,
        }
    }

    /// A rate limit: retry after `wait`, which `message` (what was refused, e.g. "too many
    /// sign-in attempts") is followed by in whole seconds, as `Retry-After` says it.
    pub fn retry_later(message: &str, wait: std::time::Duration) -> Self {
        Self::RetryLater { message: format!("{message}; retry in {} s", whole_seconds(wait)), after: wait }
    }

    /// The field a validation error names, if any.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation(v) => Some(v.field()),
            Self::InvalidRules { field, .. } => Some(field),
            Self::BadField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A 422 naming `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Validation(ValidationError::Invalid { field, reason: reason.into() })
    }

    /// A fault of the hub, from anything that displays.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::NotFound(what),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Unavailable(_) => Self::Unavailable("the store is unavailable; retry shortly".into()),
            StoreError::Fenced { lease } => {
                Self::Unavailable(format!("the {lease} lease moved to another node; retry"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ListError> for Error {
    fn from(e: ListError) -> Self {
        match e {
            ListError::BadCursor(v) => Self::Validation(v),
            ListError::Store(s) => s.into(),
        }
    }
}

/// A result of the hub's services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `d` rounded up to whole seconds, at least 1: what `Retry-After` and the messages say.
fn whole_seconds(d: std::time::Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(ErrorCode::ALL.iter().all(|c| (400..600).contains(&c.status())));
    }

    #[test]
    fn docs_api_md_lists_every_error_code_as_the_table_says() {
        let docs = include_str!("../../docs/api.md");
        let table = ErrorCode::markdown_table();
        assert!(
            docs.contains(&table),
            "docs/api.md must contain the error table exactly as ErrorCode::markdown_table() prints it:\n{table}"
        );
    }
}
