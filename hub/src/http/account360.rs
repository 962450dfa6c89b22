//! The customer 360 (staff): what the operator's billing system knows of a customer (their BSS
//! customer, billing accounts, products, last bills), their bills with items, and a product's
//! usage. Every read is audited (`customer.billing_read`), like other reads of a customer.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, web};
use bss::{AccountRef, Bill, BillRef, ProductRef, Usage};
use schema::{AuditAction, CustomerId, Role, TargetKind};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::account360::AccountOverview;
use crate::services::audit::Event;

/// Customer 360 routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(overview).service(bills).service(bill).service(usage);
}

const STAFF: &[Role] = &[Role::Agent, Role::Supervisor];

async fn audit(state: &AppState, staff: &Staff, customer: CustomerId, details: serde_json::Value) -> Result<(), Error> {
    let event = Event::new(AuditAction::CustomerBillingRead).target(TargetKind::Customer, customer).details(details);
    state.audit.record(&staff.actor(), event).await
}

/// The customer 360: the hub's profile, and from the billing system the linked customer
/// (segment, contacts, address), their billing accounts (balance, overdue) each with its last
/// bill (without items), and their products. Always 200 for a known customer: a section the
/// billing system does not give within 2 s is listed in `unavailable` (the panel says "billing
/// system unavailable"); `linked: false` when the customer is not linked to billing. Loading it
/// sets the customer's tier from their BSS segment.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    responses(
        (status = 200, body = AccountOverview),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent or supervisor", body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/customers/{id}/account")]
pub async fn overview(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, Error> {
    staff.require_any(STAFF)?;
    let answer = state.account360.overview(*id).await?;
    audit(&state, &staff, *id, json!({ "what": "account", "linked": answer.linked })).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Which bills.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BillsQuery {
    /// One of the customer's billing accounts; absent: all of them.
    account: Option<AccountRef>,
    /// 1 to 50, default 12.
    limit: Option<u32>,
}

/// The customer's bills, newest first, without items.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer"), BillsQuery),
    responses(
        (status = 200, body = Vec<Bill>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent or supervisor", body = ErrorBody),
        (status = 404, description = "no such customer, not linked to billing, or not their account", body = ErrorBody),
        (status = 422, description = "a bad limit", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/customers/{id}/bills")]
pub async fn bills(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    query: Query<BillsQuery>,
) -> Result<HttpResponse, Error> {
    staff.require_any(STAFF)?;
    let limit = query.limit.unwrap_or(12);
    if !(1..=crate::services::account360::MAX_BILLS).contains(&limit) {
        return Err(Error::invalid("limit", "from 1 to 50"));
    }
    let list = state.account360.bills(*id, query.account.as_ref(), limit).await?;
    audit(&state, &staff, *id, json!({ "what": "bills", "account": query.account })).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One of the customer's bills with its items (recurring fees, usage, one-time charges,
/// discounts, adjustments, tax). A bill of someone else's account is 404, as one that does not
/// exist.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer"), ("bill" = String, Path, description = "the bill's id in the billing system")),
    responses(
        (status = 200, body = Bill),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent or supervisor", body = ErrorBody),
        (status = 404, description = "no such customer or bill, or not theirs", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/customers/{id}/bills/{bill}")]
pub async fn bill(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(CustomerId, String)>,
) -> Result<HttpResponse, Error> {
    staff.require_any(STAFF)?;
    let (id, bill) = path.into_inner();
    let bill = BillRef::parse(&bill).map_err(|e| Error::invalid("bill", e.to_string()))?;
    let found = state.account360.bill(id, &bill).await?;
    audit(&state, &staff, id, json!({ "what": "bill", "bill": bill })).await?;
    Ok(HttpResponse::Ok().json(found))
}

/// This billing period's usage of one of the customer's products against its allowances.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer"), ("product" = String, Path, description = "the product's id in the billing system")),
    responses(
        (status = 200, body = Usage),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent or supervisor", body = ErrorBody),
        (status = 404, description = "no such customer or product, or not theirs", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`", body = ErrorBody)
    )
)]
#[get("/customers/{id}/products/{product}/usage")]
pub async fn usage(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(CustomerId, String)>,
) -> Result<HttpResponse, Error> {
    staff.require_any(STAFF)?;
    let (id, product) = path.into_inner();
    let product = ProductRef::parse(&product).map_err(|e| Error::invalid("product", e.to_string()))?;
    let found = state.account360.usage(id, &product).await?;
    audit(&state, &staff, id, json!({ "what": "usage", "product": product })).await?;
    Ok(HttpResponse::Ok().json(found))
}
