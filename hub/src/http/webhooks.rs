//! Platform webhooks (no staff session: each is verified by its platform's signature or secret):
//! Messenger and WhatsApp (Meta), Telegram. A call is answered `200` only once what it carries
//! is stored, so the platform redelivers anything not acknowledged.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::{Error, ErrorCode};
use crate::http::views::ErrorBody;

/// Webhook routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(meta_handshake).service(meta).service(telegram);
}

/// The body, up to `social.max_webhook_bytes` (the `Bytes` extractor would apply actix's
/// default limit, 256 KiB, instead of the configured one).
async fn body(state: &AppState, payload: web::Payload) -> Result<web::Bytes, Error> {
    let max = state.social.max_webhook_bytes();
    match payload.to_bytes_limited(max).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => {
            Err(Error::BadRequest { code: ErrorCode::MalformedWebhook, message: format!("cannot read the body: {e}") })
        }
        Err(_) => Err(Error::PayloadTooLarge(format!("webhook bodies are limited to {max} bytes"))),
    }
}

/// Meta's subscription handshake.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription handshake: echoes `hub.challenge` when the verify token is one of a
/// configured account's.
#[utoipa::path(
    params(Handshake),
    tag = "webhooks",
    responses(
        (status = 200, description = "the challenge, as text", content_type = "text/plain"),
        (status = 403, description = "the verify token matches no account", body = ErrorBody)
    )
)]
#[get("/webhooks/meta")]
pub async fn meta_handshake(state: web::Data<AppState>, q: Query<Handshake>) -> Result<HttpResponse, Error> {
    let challenge =
        state.social.meta_handshake(q.mode.as_deref(), q.verify_token.as_deref(), q.challenge.as_deref())?;
    Ok(HttpResponse::Ok().content_type("text/plain").body(challenge))
}

/// Messenger and WhatsApp events, signed with the app secret (`X-Hub-Signature-256`).
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, description = "Meta's webhook JSON", content_type = "application/json"),
    responses(
        (status = 200, description = "stored"),
        (status = 400, description = "`malformed_webhook` or `unsupported_object`", body = ErrorBody),
        (status = 401, description = "a bad signature or an unknown account", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "not stored: Meta delivers it again", body = ErrorBody)
    )
)]
#[post("/webhooks/meta")]
pub async fn meta(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, Error> {
    let body = body(&state, payload).await?;
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    state.social.meta_webhook(&body, signature).await?;
    Ok(HttpResponse::Ok().finish())
}

/// One Telegram update for that bot, with its secret token (`X-Telegram-Bot-Api-Secret-Token`).
#[utoipa::path(
    tag = "webhooks",
    params(("account_id" = String, Path, description = "the bot, as registered")),
    request_body(content = String, description = "a Telegram Update", content_type = "application/json"),
    responses(
        (status = 200, description = "stored"),
        (status = 400, description = "`malformed_webhook`", body = ErrorBody),
        (status = 401, description = "a bad secret or an unknown bot", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "not stored: Telegram delivers it again", body = ErrorBody)
    )
)]
#[post("/webhooks/telegram/{account_id}")]
pub async fn telegram(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let body = body(&state, payload).await?;
    let secret = req.headers().get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok());
    state.social.telegram_webhook(&path, &body, secret).await?;
    Ok(HttpResponse::Ok().finish())
}
