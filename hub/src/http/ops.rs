//! Operations: liveness, readiness (store and bot), Prometheus metrics, the OpenAPI document, and
//! the answer for unknown routes.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::views::ErrorBody;
use crate::services::bot::SearchMode;

/// The operations routes at the root.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The operations routes under `/api/v1`.
pub fn api_routes(cfg: &mut ServiceConfig) {
    cfg.service(openapi_yaml).service(openapi_json);
}

/// The process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The store answers and the hub is not shutting down; also how the bot searches (`hybrid`, or
/// `keyword_only` without the model or while its vectors are built: `vectors` is then `none` or
/// `building`), and which leases this node holds (`leases`: `{"jobs": true}` on the node that
/// runs the scheduled jobs).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\":\"ready\",\"store\":\"sqlite\",\"bot\":{…},\"leases\":{\"jobs\":true}}`"),
        (status = 503, description = "the store does not answer, or the hub is shutting down")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = format!("{:?}", state.core.store.backend()).to_lowercase();
    let bot = match &state.assistant {
        None => json!({ "enabled": false }),
        Some(a) => {
            let mode = a.search_mode();
            json!({
                "enabled": true,
                "model": a.has_model(),
                "search": mode.as_str(),
                "vectors": match mode {
                    SearchMode::KeywordOnly => "none",
                    SearchMode::BuildingVectors => "building",
                    SearchMode::Hybrid => "ready",
                },
                "documents": a.knowledge_base().len().unwrap_or(0),
            })
        }
    };
    // Which leases this node holds (`{"jobs": true}` on the node that runs the scheduled jobs).
    let leases: serde_json::Map<String, serde_json::Value> =
        state.leadership.held().into_iter().map(|(name, held)| (name.as_str().to_owned(), held.into())).collect();
    match state.core.store.ping().await {
        Ok(()) if !state.core.shutdown.is_cancelled() => {
            HttpResponse::Ok().json(json!({ "status": "ready", "store": backend, "bot": bot, "leases": leases }))
        }
        Ok(()) => HttpResponse::ServiceUnavailable().json(json!({ "status": "shutting_down", "store": backend })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "store": backend }))
        }
    }
}

/// Prometheus metrics, text format (the metrics are listed in docs/configuration.md), for the
/// bearer token `metrics.token` or a supervisor's or admin's session (checked by the handler, not
/// by the staff-session middleware, since the scrape token is not a session).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "no or a wrong bearer token", body = ErrorBody),
        (status = 403, description = "a session without the supervisor role", body = ErrorBody)
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Error> {
    crate::http::auth::require_metrics_reader(&state, &req).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.core.metrics.render()))
}

/// This document, as YAML.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI 3.1", content_type = "application/yaml")))]
#[get("/openapi.yaml")]
pub async fn openapi_yaml() -> Result<HttpResponse, Error> {
    let yaml = crate::http::openapi().to_yaml().map_err(Error::internal)?;
    Ok(HttpResponse::Ok().content_type("application/yaml").body(yaml))
}

/// This document, as JSON.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json() -> Result<HttpResponse, Error> {
    let json = crate::http::openapi().to_json().map_err(Error::internal)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(json))
}

/// Any other route: 404 in the error body every endpoint uses.
pub async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound("route"))
}
