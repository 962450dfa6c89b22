//! The HTTP layer: every route of the hub, one module per resource, each handler thin (extract,
//! call one service method, return a view); the websockets under [`ws`]; errors become
//! responses in [`error`]. Nothing outside this module knows actix-web's request types.
//!
//! [`routes`] is the one route table; the OpenAPI document ([`openapi`]) is generated from it.

pub mod account360;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bot;
pub mod calls;
pub mod canned;
pub mod care;
pub mod channels;
pub mod conversations;
pub mod csat;
pub mod customers;
pub mod email;
pub mod error;
pub mod incidents;
pub mod kb;
pub mod ops;
pub mod origin;
pub mod pages;
pub mod privacy;
pub mod reports;
pub mod routing;
pub mod settings;
pub mod sla;
pub mod sso;
pub mod tickets;
pub mod views;
pub mod webchat;
pub mod webhooks;
mod ws;
pub use ws::SocketsPerAddress;

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt as _, scope};

use crate::AppState;
use crate::error::Error;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// The client's address: from the proxy header configured in `webchat.client_address_header` (its
/// last entry), else the connection's peer. The web chat's limits and the audit trail use it.
pub fn client_address(config: &crate::config::Config, req: &actix_web::HttpRequest) -> Option<std::net::IpAddr> {
    match &config.webchat.client_address_header {
        Some(name) => req
            .headers()
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok()),
        None => req.peer_addr().map(|a| a.ip()),
    }
}

/// One page of a list, in the list's order.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The wire page of a store page, each item as its view.
    pub fn of<R>(p: schema::Page<R>) -> Self
    where
        T: From<R>,
    {
        Self { items: views::all(p.items), next_cursor: p.next_cursor }
    }
}

/// A page size from `?limit=`: 1 to 200, default 50.
///
/// # Errors
/// Out of range (422 naming `field`).
pub fn page_size(limit: Option<u32>, field: &'static str) -> Result<u32, Error> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(field, format!("must be between 1 and {MAX_PAGE}"))),
    }
}

/// Every route of the hub: each module registers its own. The OpenAPI document is collected
/// from this same table ([`openapi`]), so a route cannot be served undocumented.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.configure(pages::routes)
        .configure(ops::routes)
        .configure(webchat::socket_routes)
        .configure(ws::routes)
        .configure(webhooks::routes)
        .configure(csat::page_routes)
        .service(
            scope("/api/v1")
                .configure(ops::api_routes)
                .configure(pages::api_routes)
                .configure(auth::routes)
                .configure(sso::routes)
                .configure(webchat::routes)
                .configure(conversations::routes)
                .configure(customers::routes)
                .configure(account360::routes)
                .configure(agents::routes)
                .configure(calls::routes)
                .configure(tickets::routes)
                .configure(routing::routes)
                .configure(channels::routes)
                .configure(kb::routes)
                .configure(bot::routes)
                .configure(email::routes)
                .configure(canned::routes)
                .configure(settings::routes)
                .configure(audit::routes)
                .configure(privacy::routes)
                .configure(care::routes)
                .configure(incidents::routes)
                .configure(csat::routes)
                .configure(sla::routes)
                .configure(reports::routes),
        );
}

/// The parts of the OpenAPI document the handlers do not give: title, version, security.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard hub API",
        description = "The REST API, websockets and webhooks of a Switchboard hub. Staff authenticate with \
            `Authorization: Bearer <token>` from `POST /api/v1/auth/login` (websockets: `?token=`). \
            The websocket frames are described in docs/api.md.",
        license(name = "AGPL-3.0-or-later")
    ),
    components(schemas(views::ErrorBody)),
    modifiers(&BearerAuth, &Tidy)
)]
struct ApiDoc;

/// Makes the collected operations a valid document: operation ids unique across resources
/// (`conversations_list`, not `list`), and every response described (by its status where the
/// handler gave no words).
struct Tidy;

impl utoipa::Modify for Tidy {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let tag = operation.tags.as_ref().and_then(|t| t.first()).map(|t| t.replace(' ', "_"));
                if let (Some(tag), Some(id)) = (tag, operation.operation_id.as_mut()) {
                    *id = format!("{tag}_{id}");
                }
                for (status, response) in &mut operation.responses.responses {
                    if let utoipa::openapi::RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = status_meaning(status).to_owned();
                    }
                }
            }
        }
    }
}

/// What a status means in this API, for responses the handlers did not describe.
fn status_meaning(status: &str) -> &'static str {
    match status {
        "200" => "done",
        "201" => "created",
        "204" => "done; no content",
        "400" => "the request is malformed",
        "401" => "no valid session, token or signature",
        "403" => "the caller's role does not allow this",
        "404" => "not found",
        "409" => "a conflict with the resource's state",
        "413" => "too large",
        "422" => "a field does not validate; `field` names it",
        "429" => "too many requests; retry later",
        "503" => "the store or a channel is unavailable; retry",
        _ => "see the error code",
    }
}

/// Declares the bearer-token security scheme the handlers name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sbs_…").build()),
        );
    }
}

/// The OpenAPI document, generated from [`routes`] once.
#[must_use]
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        use utoipa::OpenApi as _;
        let (_, doc) =
            actix_web::App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts();
        doc
    })
}

/// Counts and times every request by its route pattern (not its raw path, to bound label values).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.core.metrics.clone());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let status = res.status();
    let elapsed = start.elapsed();
    if let Some(m) = metrics {
        m.http_requests.with_label_values(&[method.as_str(), route.as_str(), status.as_str()]).inc();
        m.http_duration.with_label_values(&[route.as_str()]).observe(elapsed.as_secs_f64());
    }
    tracing::debug!(%method, %route, status = status.as_u16(), micros = elapsed.as_micros() as u64, "request");
    Ok(res)
}
