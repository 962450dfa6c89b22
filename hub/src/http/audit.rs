//! The audit trail for auditors (and only them: admins hold every role but `auditor`): entries
//! by filter in keyset pages, an NDJSON export, and the chain's verification. Reading, exporting
//! and verifying are audited themselves.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::{Bytes, Query};
use actix_web::{HttpResponse, get, web};
use schema::{AgentId, AuditAction, AuditEntry, AuditFilter, Role, TargetKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::http::{Page, page_size};
use crate::services::audit::Verification;

/// Most entries one `GET /audit/verify` checks (the CLI has no bound).
pub const MAX_VERIFY: u64 = 1_000_000;
const DEFAULT_VERIFY: u64 = 100_000;

/// Audit routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(export).service(verify);
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Its place in the chain, from 1, without gaps.
    seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// `staff`, `system` or `anonymous`.
    actor_kind: String,
    /// The staff member, when one acted.
    actor_id: Option<AgentId>,
    /// A dotted name such as `auth.sign_in` or `account.roles_changed`.
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    /// Where the request came from.
    source_ip: Option<String>,
    /// The state before the change, where one applies.
    #[schema(value_type = Option<Object>)]
    before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    after: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
    /// The hash of the entry before it (64 hex digits).
    prev_hash: String,
    /// SHA-256 over the entry's fields and `prev_hash`.
    hash: String,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        let json = |t: Option<String>| t.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)));
        let entry = e.entry;
        Self {
            seq: e.seq,
            at: e.at,
            actor_kind: entry.actor_kind.as_str().to_owned(),
            actor_id: entry.actor_id,
            action: entry.action.as_str().to_owned(),
            target_kind: entry.target_kind.map(|k| k.as_str().to_owned()),
            target_id: entry.target_id,
            source_ip: entry.source_ip.map(|ip| ip.to_string()),
            before: json(entry.before),
            after: json(entry.after),
            details: json(entry.details),
            prev_hash: e.prev_hash.to_string(),
            hash: e.hash.to_string(),
        }
    }
}

/// Which entries: every filter narrows.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The staff member who acted.
    actor: Option<AgentId>,
    /// An action, e.g. `customer.read`.
    action: Option<String>,
    /// What it was done to, e.g. `customer`.
    target_kind: Option<String>,
    target_id: Option<String>,
    /// At or after this time (RFC 3339).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// The `next_cursor` of the previous page (list only).
    cursor: Option<String>,
    /// 1 to 200, default 50 (list only).
    limit: Option<u32>,
}

fn time_field(field: &'static str, value: Option<&str>) -> Result<Option<OffsetDateTime>, Error> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| Error::invalid(field, "a time like 2026-01-31T12:00:00Z"))
        })
        .transpose()
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, Error> {
        let target_id = self.target_id.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if target_id.is_some_and(|t| t.chars().count() > 200) {
            return Err(Error::invalid("target_id", "at most 200 characters"));
        }
        Ok(AuditFilter {
            actor: self.actor,
            action: self.action.as_deref().map(str::parse::<AuditAction>).transpose()?,
            target_kind: self.target_kind.as_deref().map(str::parse::<TargetKind>).transpose()?,
            target_id: target_id.map(str::to_owned),
            from: time_field("from", self.from.as_deref())?,
            to: time_field("to", self.to.as_deref())?,
        })
    }

    fn cursor(&self) -> Result<Option<i64>, Error> {
        self.cursor
            .as_deref()
            .map(|c| c.parse::<i64>().map_err(|_| Error::invalid("cursor", "not a cursor from a previous page")))
            .transpose()
    }
}

/// Entries of the audit trail, newest first, by filter (auditor). Reading is audited.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = ["auditor"])),
    params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntryView>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
        (status = 422, description = "a bad filter, limit or cursor", body = ErrorBody),
        (status = 503, description = "the audit trail cannot be written (so it is not read)", body = ErrorBody)
    )
)]
#[get("/audit")]
pub async fn list(state: web::Data<AppState>, staff: Staff, q: Query<AuditQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Auditor)?;
    let (filter, before, limit) = (q.filter()?, q.cursor()?, page_size(q.limit, "limit")?);
    let items = state.audit.list(&staff.actor(), &filter, before, limit + 1).await?;
    let next_cursor =
        if items.len() > limit as usize { items.get(limit as usize - 1).map(|e| e.seq.to_string()) } else { None };
    let items = items.into_iter().take(limit as usize).map(AuditEntryView::from).collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// Every entry matching the filter, oldest first, one JSON object a line (auditor), streamed in
/// pages. The export is audited before its first line.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = ["auditor"])),
    params(AuditQuery),
    responses(
        (status = 200, description = "NDJSON: one `AuditEntryView` a line", content_type = "application/x-ndjson", body = String),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
        (status = 422, description = "a bad filter", body = ErrorBody),
        (status = 503, description = "the audit trail cannot be written (so it is not exported)", body = ErrorBody)
    )
)]
#[get("/audit/export")]
pub async fn export(state: web::Data<AppState>, staff: Staff, q: Query<AuditQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Auditor)?;
    let filter = q.filter()?;
    state.audit.start_export(&staff.actor(), &filter).await?;
    let audit = std::sync::Arc::clone(&state.audit);
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let (audit, filter) = (std::sync::Arc::clone(&audit), filter.clone());
        async move {
            let after = after?;
            match audit.export_page(&filter, after).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = page.last().map(|e| e.seq);
                    let mut out = Vec::new();
                    for e in page {
                        // A view always serialises; a line that did not would be left out.
                        if serde_json::to_writer(&mut out, &AuditEntryView::from(e)).is_ok() {
                            out.push(b'\n');
                        }
                    }
                    Some((Ok::<_, std::io::Error>(Bytes::from(out)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "the audit export failed midway");
                    Some((Err(std::io::Error::other("the store failed")), None))
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("content-disposition", "attachment; filename=\"audit.ndjson\""))
        .streaming(pages))
}

/// How many entries to verify.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// At most this many entries from the start of the chain (1 to 1,000,000; default 100,000).
    max: Option<u64>,
}

/// The first broken link.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenView {
    seq: i64,
    reason: String,
}

/// Where pruning cut the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnchorView {
    seq: i64,
    hash: String,
}

/// What a verification found.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    /// Entries checked.
    checked: u64,
    /// No broken link among them.
    intact: bool,
    /// Every entry was checked (`false`: stopped at `max`).
    complete: bool,
    broken: Option<BrokenView>,
    /// The chain starts after this anchor (it was pruned).
    anchor: Option<AnchorView>,
}

impl From<Verification> for VerificationView {
    fn from(v: Verification) -> Self {
        Self {
            checked: v.checked,
            intact: v.broken.is_none(),
            complete: v.complete,
            broken: v.broken.map(|b| BrokenView { seq: b.seq, reason: b.why.to_string() }),
            anchor: v.anchor.map(|a| AnchorView { seq: a.seq, hash: a.hash.to_string() }),
        }
    }
}

/// Verifies the hash chain from its anchor, as `switchboard audit verify` does, up to `max`
/// entries (auditor). The check is audited.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = ["auditor"])),
    params(VerifyQuery),
    responses(
        (status = 200, body = VerificationView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
        (status = 422, description = "max out of range", body = ErrorBody)
    )
)]
#[get("/audit/verify")]
pub async fn verify(state: web::Data<AppState>, staff: Staff, q: Query<VerifyQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Auditor)?;
    let max = q.max.unwrap_or(DEFAULT_VERIFY);
    if !(1..=MAX_VERIFY).contains(&max) {
        return Err(Error::invalid("max", format!("from 1 to {MAX_VERIFY}")));
    }
    Ok(HttpResponse::Ok().json(VerificationView::from(state.audit.verify(&staff.actor(), max).await?)))
}
