//! Data-subject rights (admin): find a customer, see what is held about them, set or clear their
//! legal hold, export everything about them as a `.tar.gz`, erase them.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use tokio::io::AsyncReadExt as _;

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, put, web};
use bytes::Bytes;
use schema::{AuditAction, CustomerId, CustomerMatch, Holdings, Role, TargetKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::audit::Event;
use crate::services::privacy::CustomerPrivacy;

/// Privacy routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(find).service(describe).service(legal_hold).service(export).service(erase);
}

/// The customer search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    /// Part of a name, an e-mail address or a handle (phone number, platform id), 1 to 100
    /// characters, any case.
    q: String,
}

/// A customer found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerMatchView {
    pub id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub legal_hold: bool,
    /// Erased already: name and e-mail are gone, counts stay.
    pub erased: bool,
}

impl From<CustomerMatch> for CustomerMatchView {
    fn from(m: CustomerMatch) -> Self {
        Self { id: m.id, name: m.name, email: m.email, legal_hold: m.legal_hold, erased: m.erased }
    }
}

/// A customer's privacy state.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPrivacyView {
    pub id: CustomerId,
    /// While set, erasure is refused (`409 legal_hold`) and the retention job skips them.
    pub legal_hold: bool,
    /// When they were erased (`null`: never).
    #[serde(with = "time::serde::rfc3339::option")]
    pub erased_at: Option<OffsetDateTime>,
    /// Records held; after erasure the rows analytics count stay, emptied.
    pub holdings: Holdings,
}

impl From<CustomerPrivacy> for CustomerPrivacyView {
    fn from(p: CustomerPrivacy) -> Self {
        Self { id: p.id, legal_hold: p.legal_hold, erased_at: p.erased_at, holdings: p.holdings }
    }
}

/// Setting or clearing a legal hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldBody {
    pub hold: bool,
}

/// Customers whose name, e-mail address or a handle contains `q`, by name (at most 50; admin).
#[utoipa::path(
    tag = "privacy",
    security(("bearer" = ["admin"])),
    params(FindQuery),
    responses(
        (status = 200, body = Vec<CustomerMatchView>),
        (status = 400, description = "no `q`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`q` empty or over 100 characters", body = ErrorBody)
    )
)]
#[get("/customers")]
pub async fn find(state: web::Data<AppState>, staff: Staff, query: Query<FindQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let found = state.privacy.find(&query.q).await?;
    let details = serde_json::json!({ "query_chars": query.q.chars().count(), "found": found.len() });
    state.audit.record(&staff.actor(), Event::new(AuditAction::CustomerSearched).details(details)).await?;
    Ok(HttpResponse::Ok().json(found.into_iter().map(CustomerMatchView::from).collect::<Vec<_>>()))
}

/// What is held about a customer, their legal hold and erasure (admin).
#[utoipa::path(
    tag = "privacy",
    security(("bearer" = ["admin"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    responses(
        (status = 200, body = CustomerPrivacyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/customers/{id}/privacy")]
pub async fn describe(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let view = state.privacy.describe(*id).await?;
    let event = Event::new(AuditAction::CustomerRead)
        .target(TargetKind::Customer, *id)
        .details(serde_json::json!({ "view": "privacy" }));
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(CustomerPrivacyView::from(view)))
}

/// Sets or clears a customer's legal hold (admin).
#[utoipa::path(
    tag = "privacy",
    security(("bearer" = ["admin"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    request_body = LegalHoldBody,
    responses(
        (status = 200, body = CustomerPrivacyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[put("/customers/{id}/legal-hold")]
pub async fn legal_hold(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    body: web::Json<LegalHoldBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let view = state.privacy.set_legal_hold(*id, body.hold, admin.id).await?;
    let event = Event::new(AuditAction::CustomerLegalHold)
        .target(TargetKind::Customer, *id)
        .details(serde_json::json!({ "hold": body.hold }));
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(CustomerPrivacyView::from(view)))
}

/// Everything about a customer as a `.tar.gz` download: `manifest.json` (schema version, time,
/// counts), one JSON array per kind, raw mail and files (admin).
#[utoipa::path(
    tag = "privacy",
    security(("bearer" = ["admin"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    responses(
        (status = 200, description = "the archive", content_type = "application/gzip"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[post("/customers/{id}/export")]
pub async fn export(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let export = state.privacy.export(*id, admin.id).await?;
    let event = Event::new(AuditAction::CustomerExported)
        .target(TargetKind::Customer, *id)
        .details(serde_json::json!({ "bytes": export.size }));
    state.audit.record(&staff.actor(), event).await?;
    // Read from the spooled file in chunks, never the whole archive at once, on tokio's blocking
    // pool (not the worker threads that serve requests).
    let chunks = futures_util::stream::unfold(Some(tokio::fs::File::from_std(export.file)), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/gzip"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", export.file_name)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(SizedStream::new(export.size, chunks)))
}

/// Erases a customer: texts replaced by a tombstone, addresses, handles, raw mail, attachments
/// and files deleted; the rows analytics count stay. Erasing again is harmless (admin).
#[utoipa::path(
    tag = "privacy",
    security(("bearer" = ["admin"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    responses(
        (status = 200, body = CustomerPrivacyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`legal_hold`: the customer is under legal hold", body = ErrorBody)
    )
)]
#[post("/customers/{id}/erase")]
pub async fn erase(state: web::Data<AppState>, staff: Staff, id: web::Path<CustomerId>) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let view = state.privacy.erase(*id, admin.id).await?;
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::CustomerErased).target(TargetKind::Customer, *id))
        .await?;
    Ok(HttpResponse::Ok().json(CustomerPrivacyView::from(view)))
}
