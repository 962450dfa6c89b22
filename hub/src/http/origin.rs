//! Which web pages may use the customer chat: the `Origin` check for the web chat API and its
//! websocket, and CORS for the origins the operator allows (`widget.allowed_origins`, or what an
//! admin saved in the console: `services::settings`).
//!
//! Browsers send `Origin` on cross-origin requests and on every websocket handshake. A request
//! to `/api/v1/webchat/…` or `/ws/webchat` whose `Origin` is neither the hub's own nor listed is
//! refused with 403 before any handler runs (no session, no socket). Requests without `Origin`
//! (curl, server-side integrations) are not a browser page and pass: the check protects
//! customers' browsers, it is not authentication.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError as _, web};

use crate::AppState;
use crate::error::Error;

/// Whether `path` is part of the customer chat, which pages of other origins may use.
fn is_webchat(path: &str) -> bool {
    path == "/ws/webchat" || path.starts_with("/api/v1/webchat/")
}

/// `scheme://host[:port]`, lower-cased, without a trailing slash: how origins are compared.
#[must_use]
pub fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether a page of `origin` may use the chat of a hub reached at `own_host` (the `Host`,
/// `host[:port]`). The hub's own pages match by host alone: behind a proxy that ends TLS the
/// hub sees `http` while the page is `https`.
#[must_use]
pub fn allowed(origin: &str, own_host: &str, allowed_origins: &[String]) -> bool {
    let origin = normalize(origin);
    let host = origin.split_once("://").map_or("", |(_, h)| h);
    (!host.is_empty() && host == own_host.to_ascii_lowercase())
        || allowed_origins.iter().any(|a| a == "*" || normalize(a) == origin)
}

/// The middleware: refuses web chat requests from pages the operator did not allow, answers
/// CORS preflights, and adds `Access-Control-Allow-Origin` for the allowed ones.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !is_webchat(req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_owned) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let own = req.connection_info().host().to_owned();
    let allowed_origins =
        req.app_data::<web::Data<AppState>>().map(|s| s.settings.allowed_origins()).unwrap_or_default();
    if !allowed(&origin, &own, &allowed_origins) {
        tracing::info!(%origin, path = req.path(), "web chat refused for an origin that is not allowed");
        let refused = Error::Forbidden("this page's origin may not use the chat (see widget.allowed_origins)".into());
        return Ok(req.into_response(refused.error_response()));
    }
    let origin_value = HeaderValue::from_str(&origin).map_err(actix_web::error::ErrorBadRequest)?;
    if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let response = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin_value))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type, authorization"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"))
            .finish();
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin_value);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_itself_and_listed_origins_are_allowed() {
        let list = vec!["https://shop.example/".to_owned()];
        assert!(allowed("http://127.0.0.1:8080", "127.0.0.1:8080", &[]));
        assert!(allowed("https://hub.example", "hub.example", &[]));
        assert!(!allowed("http://127.0.0.1:9090", "127.0.0.1:8080", &[]));
        assert!(allowed("https://SHOP.example", "hub:8080", &list));
        assert!(!allowed("https://evil.example", "hub:8080", &list));
        assert!(!allowed("https://shop.example:8443", "hub:8080", &list));
        assert!(!allowed("null", "hub:8080", &list));
        assert!(allowed("https://anything.example", "hub:8080", &["*".to_owned()]));
    }

    #[test]
    fn only_the_web_chat_is_checked() {
        assert!(is_webchat("/ws/webchat"));
        assert!(is_webchat("/api/v1/webchat/sessions"));
        assert!(!is_webchat("/api/v1/auth/login"));
        assert!(!is_webchat("/ws/inbox"));
    }
}
