//! The customer-care workflows beside a conversation (the assignee or a supervisor): the new
//! service, modify service, bill adjustment and discontinue service forms' data and their
//! submissions (`/conversations/{id}/care/...`), the conversation's care history; and the
//! supervisors' approval queue and adjustments report (`/care/...`).
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use bss::{AccountRef, Bill, Eligibility, Money, Offering, Product, ProductChange, RetentionOffer};
use schema::{
    AgentId, AuditAction, CareFilter, CareKind, CareRequest, CareRequestId, CareState, ConversationId, CustomerId,
    Role, TargetKind,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::audit::Event;
use crate::services::care::{
    AdjustInput, DiscontinueInput, ModifyInput, NewServiceInput, Outcome, RetentionResult, day_start, idempotency_key,
};

/// Care routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(options)
        .service(history)
        .service(catalogue)
        .service(eligibility)
        .service(new_service)
        .service(changes)
        .service(modify_service)
        .service(bills)
        .service(bill)
        .service(adjust)
        .service(cancellable)
        .service(discontinue)
        .service(approvals)
        .service(approve)
        .service(reject)
        .service(report);
}

const WORKERS: [Role; 2] = [Role::Agent, Role::Supervisor];

/// A reason code with its label per language (`en`, and `es`/`pt` when configured).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonView {
    pub code: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What the care forms offer the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct CareOptionsView {
    pub adjustment_reasons: Vec<ReasonView>,
    pub discontinue_reasons: Vec<ReasonView>,
    /// The largest adjustment the caller applies without approval, per currency (a currency not
    /// listed: every adjustment needs approval).
    pub adjustment_limits: Vec<Money>,
}

/// A care submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct CareRequestView {
    pub id: CareRequestId,
    pub kind: CareKind,
    pub state: CareState,
    pub agent_id: AgentId,
    /// The requesting agent's name (reports).
    pub agent_name: Option<String>,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    pub account: Option<String>,
    pub product: Option<String>,
    pub offering: Option<String>,
    pub bill: Option<String>,
    pub item: Option<String>,
    /// An adjustment's amount (a credit to the customer), a plan change's monthly price
    /// difference, a discontinued product's early-termination fee.
    pub amount: Option<Money>,
    pub reason: Option<String>,
    pub note: String,
    /// The workflow's other inputs (names, dates, prices, the retention offer and its result).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub marketing_consent: Option<bool>,
    /// The billing system's order or adjustment id, once applied.
    pub result_ref: Option<String>,
    /// Why the billing system refused it.
    pub failure: Option<String>,
    pub decided_by: Option<AgentId>,
    pub decision_note: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl CareRequestView {
    fn new(r: CareRequest, agent_name: Option<String>) -> Self {
        let amount = match (r.amount_minor, r.currency.as_deref().map(bss::Currency::parse)) {
            (Some(minor), Some(Ok(currency))) => Some(Money::new(minor, currency)),
            _ => None,
        };
        let mut detail = r.detail;
        if let serde_json::Value::Object(map) = &mut detail {
            // The order as sent is the hub's bookkeeping, not the form's.
            map.remove("order");
        }
        Self {
            id: r.id,
            kind: r.kind,
            state: r.state,
            agent_id: r.agent_id,
            agent_name,
            conversation_id: r.conversation_id,
            customer_id: r.customer_id,
            account: r.account_id,
            product: r.product_id,
            offering: r.offering_id,
            bill: r.bill_id,
            item: r.item_id,
            amount,
            reason: r.reason,
            note: r.note,
            detail,
            marketing_consent: r.marketing_consent,
            result_ref: r.result_ref,
            failure: r.failure,
            decided_by: r.decided_by,
            decision_note: r.decision_note,
            decided_at: r.decided_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<CareRequest> for CareRequestView {
    fn from(r: CareRequest) -> Self {
        Self::new(r, None)
    }
}

/// The new-service form's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueView {
    pub offerings: Vec<Offering>,
    /// The customer's billing accounts.
    pub accounts: Vec<AccountRef>,
}

/// An active product with its allowed changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductChangesView {
    pub product: Product,
    pub changes: Vec<ProductChange>,
}

/// A product that can be discontinued, with its early-termination fee (in `product`) and the
/// retention offers the agent may make.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancellableView {
    pub product: Product,
    pub retention_offers: Vec<RetentionOffer>,
}

/// The eligibility question.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EligibilityQuery {
    /// The offering's id.
    offering: String,
}

/// A new service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceBody {
    /// A plan of the catalogue.
    pub offering: String,
    /// The billing account (default: the customer's first).
    pub account: Option<String>,
    /// One of the eligibility's installation dates (`YYYY-MM-DD`), when the plan needs one.
    pub installation_date: Option<String>,
    pub note: Option<String>,
}

/// A change to a service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyServiceBody {
    pub product: String,
    /// The offering of one of the product's allowed changes.
    pub offering: String,
    pub note: Option<String>,
}

/// A bill adjustment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    pub bill: String,
    /// The item adjusted (absent: the bill as a whole).
    pub item: Option<String>,
    /// A decimal text in the bill's currency, a credit to the customer (`"12.30"`).
    #[schema(value_type = String, example = "12.30")]
    pub amount: serde_json::Value,
    /// One of the configured adjustment reason codes.
    pub reason: String,
    pub note: Option<String>,
}

/// A discontinued service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscontinueBody {
    pub product: String,
    /// One of the configured discontinue reason codes.
    pub reason: String,
    /// The retention offer made, if any.
    pub retention_offer: Option<String>,
    /// Whether the customer accepted it (required with an offer).
    pub retention_result: Option<RetentionResult>,
    /// The customer's answer to the marketing-consent question (required).
    pub marketing_consent: Option<bool>,
    pub note: Option<String>,
}

/// A supervisor's decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Required to reject.
    pub note: Option<String>,
}

/// Which approvals.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    /// `pending` (default), `approved`, `rejected`, `applied`, `failed`.
    state: Option<String>,
    /// At most this many (1 to 500, default 100).
    limit: Option<u32>,
}

/// The adjustments report's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The requesting agent's id.
    agent: Option<AgentId>,
    /// A reason code.
    reason: Option<String>,
    /// A state.
    state: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC), inclusive.
    from: Option<String>,
    /// To this day (`YYYY-MM-DD`, UTC), inclusive.
    to: Option<String>,
    /// At most this many (1 to 1000, default 500).
    limit: Option<u32>,
}

/// One currency's totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyTotalView {
    #[schema(value_type = String, example = "EUR")]
    pub currency: String,
    pub applied_count: u64,
    /// The sum of the applied adjustments.
    pub applied: Money,
    pub pending_count: u64,
    /// The sum of those pending (or approved, not yet applied).
    pub pending: Money,
}

/// Every adjustment matching the filters, with totals per currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentReportView {
    pub adjustments: Vec<CareRequestView>,
    pub totals: Vec<CurrencyTotalView>,
}

fn key(req: &HttpRequest) -> Result<String, Error> {
    let raw = match req.headers().get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| Error::invalid("idempotency_key", "not visible ASCII"))?),
        None => None,
    };
    idempotency_key(raw)
}

fn answer(outcome: Outcome) -> HttpResponse {
    let view = CareRequestView::from(outcome.request);
    if outcome.changed { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) }
}

fn audit_event(action: AuditAction, request: &CareRequest) -> Event {
    let amount = request.amount_minor.map(|m| serde_json::json!({ "minor": m, "currency": request.currency }));
    Event::new(action).target(TargetKind::CareRequest, request.id).details(serde_json::json!({
        "kind": request.kind,
        "state": request.state,
        "conversation_id": request.conversation_id,
        "customer_id": request.customer_id,
        "account": request.account_id,
        "product": request.product_id,
        "offering": request.offering_id,
        "bill": request.bill_id,
        "item": request.item_id,
        "amount": amount,
        "reason": request.reason,
        "retention_result": request.detail.get("retention_result"),
        "marketing_consent": request.marketing_consent,
        "result_ref": request.result_ref,
        "note_chars": request.note.chars().count(),
    }))
}

async fn audited(
    state: &AppState,
    staff: &Staff,
    action: AuditAction,
    outcome: Outcome,
) -> Result<HttpResponse, Error> {
    if outcome.changed {
        state.audit.record(&staff.actor(), audit_event(action, &outcome.request)).await?;
    }
    Ok(answer(outcome))
}

/// The reason lists and the caller's adjustment limits (agent, supervisor).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    responses((status = 200, body = CareOptionsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/care/options")]
pub async fn options(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let o = state.care.options(agent);
    let reasons = |list: Vec<crate::services::care::Reason>| {
        list.into_iter().map(|r| ReasonView { code: r.code, labels: r.labels }).collect::<Vec<_>>()
    };
    Ok(HttpResponse::Ok().json(CareOptionsView {
        adjustment_reasons: reasons(o.adjustment_reasons),
        discontinue_reasons: reasons(o.discontinue_reasons),
        adjustment_limits: o.limits,
    }))
}

/// The conversation's care submissions, newest first (the assignee or a supervisor).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<CareRequestView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/requests")]
pub async fn history(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let list = state.care.history(agent, *id).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(CareRequestView::from).collect::<Vec<_>>()))
}

/// The product catalogue with prices, and the customer's accounts (new service).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = CatalogueView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`customer_not_linked`", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/catalogue")]
pub async fn catalogue(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let c = state.care.catalogue(agent, *id).await?;
    Ok(HttpResponse::Ok().json(CatalogueView { offerings: c.offerings, accounts: c.accounts }))
}

/// Whether an offering can be provided at the customer's address, and its installation dates.
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation"), EligibilityQuery),
    responses(
        (status = 200, body = Eligibility),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`customer_not_linked`", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/eligibility")]
pub async fn eligibility(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    q: Query<EligibilityQuery>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    Ok(HttpResponse::Ok().json(state.care.eligibility(agent, *id, &q.offering).await?))
}

/// Orders a new service (an `add` order; `Idempotency-Key` makes a retry return the first).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(
        ("id" = ConversationId, Path, description = "the conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 100 visible ASCII characters")
    ),
    request_body = NewServiceBody,
    responses(
        (status = 201, description = "ordered", body = CareRequestView),
        (status = 200, description = "the same key again: the first submission", body = CareRequestView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "`invalid_field`, or `bss_rejected` (not eligible at the address)", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[post("/conversations/{id}/care/new-service")]
pub async fn new_service(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<ConversationId>,
    body: web::Json<NewServiceBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let key = key(&req)?;
    let b = body.into_inner();
    let input = NewServiceInput {
        offering: b.offering,
        account: b.account,
        installation_date: b.installation_date,
        note: b.note,
    };
    let outcome = state.care.new_service(agent, *id, input, key).await?;
    audited(&state, &staff, AuditAction::CareServiceOrdered, outcome).await
}

/// Each active product with its allowed changes (upgrades, downgrades, add-ons), their price
/// difference and effective date.
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<ProductChangesView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`customer_not_linked`", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/changes")]
pub async fn changes(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let list = state.care.changes(agent, *id).await?;
    let views: Vec<_> =
        list.into_iter().map(|p| ProductChangesView { product: p.product, changes: p.changes }).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Orders one of a product's allowed changes (`modify`, or `add`/`delete` of an add-on).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(
        ("id" = ConversationId, Path, description = "the conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 100 visible ASCII characters")
    ),
    request_body = ModifyServiceBody,
    responses(
        (status = 201, description = "ordered", body = CareRequestView),
        (status = 200, description = "the same key again: the first submission", body = CareRequestView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "not this customer's product", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[post("/conversations/{id}/care/modify-service")]
pub async fn modify_service(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<ConversationId>,
    body: web::Json<ModifyServiceBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let key = key(&req)?;
    let b = body.into_inner();
    let input = ModifyInput { product: b.product, offering: b.offering, note: b.note };
    let outcome = state.care.modify_service(agent, *id, input, key).await?;
    audited(&state, &staff, AuditAction::CareServiceModified, outcome).await
}

/// The customer's recent bills, without items.
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<Bill>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`customer_not_linked`", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/bills")]
pub async fn bills(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    Ok(HttpResponse::Ok().json(state.care.bills(agent, *id).await?))
}

/// One of the customer's bills with its items (`adjustable` marks those an agent may adjust).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(
        ("id" = ConversationId, Path, description = "the conversation"),
        ("bill" = String, Path, description = "the bill's id")
    ),
    responses(
        (status = 200, body = Bill),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "not this customer's bill", body = ErrorBody),
        (status = 409, description = "`customer_not_linked`", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/bills/{bill}")]
pub async fn bill(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(ConversationId, String)>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let (id, bill) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.care.bill(agent, id, &bill).await?))
}

/// Adjusts a bill (a credit): applied at once within the caller's limit, else pending a
/// supervisor's approval. Needs a recent sign-in (step-up).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(
        ("id" = ConversationId, Path, description = "the conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 100 visible ASCII characters")
    ),
    request_body = AdjustmentBody,
    responses(
        (status = 201, description = "`state` `applied`, or `pending` approval", body = CareRequestView),
        (status = 200, description = "the same key again: the first submission", body = CareRequestView),
        (status = 400, description = "`invalid_amount`: not a positive decimal of the bill's currency, or over the item or the bill", body = ErrorBody),
        (status = 401, description = "`step_up_required`", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "not this customer's bill or item", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "an unknown reason, an item that cannot be adjusted, or `bss_rejected`", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[post("/conversations/{id}/care/adjustments")]
pub async fn adjust(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<ConversationId>,
    body: web::Json<AdjustmentBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    staff.require_fresh_auth(&state)?;
    let key = key(&req)?;
    let b = body.into_inner();
    let amount = match b.amount {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(Error::BadField {
                code: crate::error::ErrorCode::InvalidAmount,
                field: "amount",
                message: "the amount is a decimal text, like \"12.30\"".into(),
            });
        }
    };
    let input = AdjustInput { bill: b.bill, item: b.item, amount, reason: b.reason, note: b.note };
    let outcome = state.care.adjust(agent, *id, input, key).await?;
    audited(&state, &staff, AuditAction::CareAdjustmentRequested, outcome).await
}

/// The customer's active products with their early-termination fee and retention offers.
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<CancellableView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`customer_not_linked`", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/care/cancellable")]
pub async fn cancellable(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let list = state.care.cancellable(agent, *id).await?;
    let views: Vec<_> = list
        .into_iter()
        .map(|c| CancellableView { product: c.product, retention_offers: c.retention_offers })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Discontinues a product (a `delete` order), or keeps it with an accepted retention offer (a
/// `modify` order instead); records the marketing-consent answer.
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(
        ("id" = ConversationId, Path, description = "the conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 100 visible ASCII characters")
    ),
    request_body = DiscontinueBody,
    responses(
        (status = 201, description = "ordered", body = CareRequestView),
        (status = 200, description = "the same key again: the first submission", body = CareRequestView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "not this customer's product", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[post("/conversations/{id}/care/discontinue")]
pub async fn discontinue(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<ConversationId>,
    body: web::Json<DiscontinueBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&WORKERS)?;
    let key = key(&req)?;
    let b = body.into_inner();
    let input = DiscontinueInput {
        product: b.product,
        reason: b.reason,
        retention_offer: b.retention_offer,
        retention_result: b.retention_result,
        marketing_consent: b.marketing_consent,
        note: b.note,
    };
    let outcome = state.care.discontinue(agent, *id, input, key).await?;
    let retained = outcome.request.detail.get("retained").and_then(serde_json::Value::as_bool) == Some(true);
    let action = if retained { AuditAction::CareServiceRetained } else { AuditAction::CareServiceDiscontinued };
    audited(&state, &staff, action, outcome).await
}

fn state_param(text: Option<&str>) -> Result<Option<CareState>, Error> {
    text.map(str::parse::<CareState>).transpose().map_err(Error::from)
}

/// The bill adjustments waiting for a supervisor (or, with `state`, those in another state),
/// newest first (supervisor).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["supervisor"])),
    params(ApprovalsQuery),
    responses(
        (status = 200, body = Vec<CareRequestView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/care/approvals")]
pub async fn approvals(
    state: web::Data<AppState>,
    staff: Staff,
    q: Query<ApprovalsQuery>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let wanted = state_param(q.state.as_deref())?.unwrap_or(CareState::Pending);
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Error::invalid("limit", "from 1 to 500"));
    }
    let list = state.care.approvals(Some(wanted), limit).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(CareRequestView::from).collect::<Vec<_>>()))
}

/// Approves a pending adjustment, which is then applied to the bill (a supervisor other than
/// the one who asked; needs a recent sign-in).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["supervisor"])),
    params(("id" = String, Path, description = "the care request's id")),
    request_body(content = Option<DecisionBody>, description = "an optional note"),
    responses(
        (status = 201, description = "approved and applied", body = CareRequestView),
        (status = 401, description = "`step_up_required`", body = ErrorBody),
        (status = 403, description = "one's own request", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not pending", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "`bss_unavailable`: approved, not yet applied; approve again to retry", body = ErrorBody)
    )
)]
#[post("/care/approvals/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CareRequestId>,
    body: Option<web::Json<DecisionBody>>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    staff.require_fresh_auth(&state)?;
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let outcome = state.care.approve(supervisor, *id, body.note.as_deref()).await?;
    audited(&state, &staff, AuditAction::CareAdjustmentApproved, outcome).await
}

/// Rejects a pending adjustment with a note (supervisor).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["supervisor"])),
    params(("id" = String, Path, description = "the care request's id")),
    request_body = DecisionBody,
    responses(
        (status = 201, description = "rejected", body = CareRequestView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "one's own request", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not pending", body = ErrorBody),
        (status = 422, description = "no note", body = ErrorBody)
    )
)]
#[post("/care/approvals/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CareRequestId>,
    body: web::Json<DecisionBody>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let outcome = state.care.reject(supervisor, *id, body.note.as_deref()).await?;
    audited(&state, &staff, AuditAction::CareAdjustmentRejected, outcome).await
}

/// Every bill adjustment by agent, reason, state and day, newest first, with totals per
/// currency (supervisor).
#[utoipa::path(
    tag = "care",
    security(("bearer" = ["supervisor"])),
    params(ReportQuery),
    responses(
        (status = 200, body = AdjustmentReportView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/care/adjustments")]
pub async fn report(state: web::Data<AppState>, staff: Staff, q: Query<ReportQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid("limit", "from 1 to 1000"));
    }
    if q.reason.as_deref().is_some_and(|r| r.is_empty() || r.len() > crate::config::MAX_REASON_CODE) {
        return Err(Error::invalid("reason", "not a reason code"));
    }
    let from = q.from.as_deref().map(|t| day_start("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| day_start("to", t)).transpose()?.map(|d| d + time::Duration::days(1));
    let filter = CareFilter {
        state: state_param(q.state.as_deref())?,
        agent: q.agent,
        reason: q.reason,
        from,
        to,
        limit,
        ..CareFilter::default()
    };
    let report = state.care.report(filter).await?;
    let adjustments = report
        .adjustments
        .into_iter()
        .map(|r| {
            let name = report.agents.get(&r.agent_id).cloned();
            CareRequestView::new(r, name)
        })
        .collect();
    let totals = report
        .totals
        .into_iter()
        .map(|t| CurrencyTotalView {
            currency: t.currency.to_string(),
            applied_count: t.applied_count,
            applied: t.applied,
            pending_count: t.pending_count,
            pending: t.pending,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AdjustmentReportView { adjustments, totals }))
}
