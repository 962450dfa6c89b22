//! Customers (staff): the profile agents see beside a conversation: who the customer is, how
//! they reach us on each channel, and their conversations. Built to grow: the customer 360
//! (accounts, products, bills) adds sections beside `conversations`. One customer, many handles:
//! search, link and unlink handles, merge two customers, edit contact details and consents
//! (`services/customers.rs` says who may change whom).
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, web};
use actix_web::{delete, patch, post, put};
use schema::churn::{ChurnBand, ChurnFactorKind, ChurnRisk, ChurnSignals};
use schema::{
    AgentId, AuditAction, AuthorKind, Channel, Consent, ConsentKind, Conversation, ConversationId, Customer,
    CustomerConversation, CustomerHandle, CustomerId, CustomerSummary, CustomerTier, DisplayName, EmailAddress,
    HandleKind, Language, MessagePreview, Outcome, PhoneNumber, Role, TargetKind, Ticket, TicketId, TicketStatus,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::http::{Page, page_size};
use crate::services::audit::Event;
use crate::services::customers::{BssSection, ProfilePatch};

/// Customer routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(search)
        .service(profile)
        .service(history)
        .service(update)
        .service(link_handle)
        .service(unlink_handle)
        .service(merge)
        .service(bss_link)
        .service(churn_risk);
}

/// One of a customer's handles: what identifies them (`kind` and normalised `value`: a phone
/// number in E.164, an e-mail address in lower case, a Messenger `page_id:psid`, a Telegram
/// user id), whether it is verified (matched on arrival), and the channel and exact handle it was
/// first seen as (`account_id:sender_id` on the platforms).
#[derive(Debug, Serialize, ToSchema)]
pub struct HandleView {
    pub kind: HandleKind,
    pub value: String,
    pub verified: bool,
    pub channel: Channel,
    pub handle: String,
    /// The agent who linked it (`null`: it arrived on a channel).
    pub added_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<CustomerHandle> for HandleView {
    fn from(h: CustomerHandle) -> Self {
        Self {
            kind: h.kind,
            value: h.value,
            verified: h.verified,
            channel: h.channel,
            handle: h.handle,
            added_by: h.added_by,
            created_at: h.created_at,
        }
    }
}

/// A marketing consent, with when and by whom it last changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub kind: ConsentKind,
    pub granted: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    pub changed_by: Option<AgentId>,
}

impl From<Consent> for ConsentView {
    fn from(c: Consent) -> Self {
        Self { kind: c.kind, granted: c.granted, changed_at: c.changed_at, changed_by: c.changed_by }
    }
}

/// How a conversation's latest ticket stands or ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeView {
    pub ticket_id: TicketId,
    pub status: TicketStatus,
    /// How it ended (the kind of its last event: `resolved`, `closed`, `superseded_by_call`, …);
    /// `null` while it is open.
    pub resolution: Option<String>,
}

impl From<Outcome> for OutcomeView {
    fn from(o: Outcome) -> Self {
        Self { ticket_id: o.ticket_id, status: o.status, resolution: o.resolution }
    }
}

/// A section of the profile read from the billing system; it fails soft.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersSection {
    /// `ok`, `not_linked` (no BSS customer linked, or no billing system), `unavailable`.
    pub status: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<bss::Order>,
    /// Why it is unavailable.
    pub message: Option<String>,
}

impl From<BssSection<Vec<bss::Order>>> for OrdersSection {
    fn from(s: BssSection<Vec<bss::Order>>) -> Self {
        match s {
            BssSection::NotLinked => Self { status: "not_linked", items: Vec::new(), message: None },
            BssSection::Ok(items) => Self { status: "ok", items, message: None },
            BssSection::Unavailable(m) => Self { status: "unavailable", items: Vec::new(), message: Some(m) },
        }
    }
}

/// The newest message of a conversation, cut to a preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePreviewView {
    pub author: AuthorKind,
    /// At most 160 characters (a longer text is cut and ends with `…`); card numbers masked.
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<MessagePreview> for MessagePreviewView {
    fn from(m: MessagePreview) -> Self {
        Self { author: m.author, text: m.text, created_at: m.created_at }
    }
}

/// One of a customer's conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// The subject of the mail that opened it (e-mail conversations only).
    pub subject: Option<String>,
    /// Its newest message (`null` when it has none).
    pub last_message: Option<MessagePreviewView>,
    /// Its latest ticket and how it ended (`null`: never handed to staff).
    pub outcome: Option<OutcomeView>,
}

impl From<CustomerConversation> for CustomerConversationView {
    fn from(c: CustomerConversation) -> Self {
        Self {
            conversation: c.conversation,
            subject: c.subject,
            last_message: c.last_message.map(Into::into),
            outcome: c.outcome.map(Into::into),
        }
    }
}

/// A customer, as agents see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerProfile {
    pub id: CustomerId,
    /// Card numbers in it are masked.
    pub name: Option<DisplayName>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub language: Language,
    pub tier: CustomerTier,
    /// Every handle of theirs, verified first.
    pub handles: Vec<HandleView>,
    /// Marketing consents that were ever set (absent kinds were never asked).
    pub consents: Vec<ConsentView>,
    pub legal_hold: bool,
    pub erased: bool,
    /// The customer this one was merged into (their history is there now).
    pub merged_into: Option<CustomerId>,
    /// The billing system's customer they are linked to.
    pub bss_customer_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Their conversations on every channel, newest first (the current one included), each
    /// with its outcome; the next pages from `GET /api/v1/customers/{id}/conversations?cursor=`.
    pub conversations: Page<CustomerConversationView>,
    /// Their tickets still open, oldest first.
    pub open_tickets: Vec<OpenTicketView>,
    /// Their orders in the billing system, newest first, when linked.
    pub orders: OrdersSection,
}

/// A ticket of the customer's that is still open.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenTicketView {
    pub id: TicketId,
    pub conversation_id: ConversationId,
    pub channel: Channel,
    pub status: TicketStatus,
    pub queue: String,
    pub assignee_id: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Ticket> for OpenTicketView {
    fn from(t: Ticket) -> Self {
        Self {
            id: t.id,
            conversation_id: t.conversation_id,
            channel: t.channel,
            status: t.status,
            queue: t.queue.to_string(),
            assignee_id: t.assignee_id,
            created_at: t.created_at,
        }
    }
}

/// Paging of a customer's conversations.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationsQuery {
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A customer's profile: name, e-mail, language, tier, their handles on each channel, and the
/// first page of their conversations (`?limit=`, default 50).
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"])),
    params(("id" = CustomerId, Path, description = "the customer"), ConversationsQuery),
    responses(
        (status = 200, body = CustomerProfile),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "a bad limit or cursor", body = ErrorBody)
    )
)]
#[get("/customers/{id}")]
pub async fn profile(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    query: Query<ConversationsQuery>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    let limit = page_size(query.limit, "limit")?;
    let store = &state.core.store;
    let customer: Customer = store.customer(*id).await?;
    let details = store.customer_details(customer.id).await?;
    let conversations = store.customer_conversations(customer.id, limit, query.cursor.as_deref()).await?;
    let handles = store.customer_handles(customer.id).await?;
    let consents = store.customer_consents(customer.id).await?;
    let open_tickets = store.customer_open_tickets(customer.id).await?;
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::CustomerRead).target(TargetKind::Customer, customer.id))
        .await?;
    let orders = state.customers.orders(details.bss_customer_id.as_deref()).await;
    Ok(HttpResponse::Ok().json(CustomerProfile {
        id: customer.id,
        name: customer.name,
        email: customer.email,
        phone: details.phone,
        language: customer.language,
        tier: customer.tier,
        handles: handles.into_iter().map(Into::into).collect(),
        consents: consents.into_iter().map(Into::into).collect(),
        legal_hold: details.legal_hold,
        erased: details.erased,
        merged_into: details.merged_into,
        bss_customer_id: details.bss_customer_id,
        created_at: customer.created_at,
        conversations: Page::of(conversations),
        open_tickets: open_tickets.into_iter().map(Into::into).collect(),
        orders: orders.into(),
    }))
}

/// A customer's conversations on every channel, newest first, with their last message.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"])),
    params(("id" = CustomerId, Path, description = "the customer"), ConversationsQuery),
    responses(
        (status = 200, body = Page<CustomerConversationView>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "a bad limit or cursor", body = ErrorBody)
    )
)]
#[get("/customers/{id}/conversations")]
pub async fn history(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    query: Query<ConversationsQuery>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    let limit = page_size(query.limit, "limit")?;
    // 404 for an unknown customer rather than an empty page.
    let customer = state.core.store.customer(*id).await?;
    let page = state.core.store.customer_conversations(customer.id, limit, query.cursor.as_deref()).await?;
    let event = Event::new(AuditAction::CustomerHistoryRead).target(TargetKind::Customer, customer.id);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(Page::<CustomerConversationView>::of(page)))
}

/// A customer found by search.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSummaryView {
    pub id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tier: CustomerTier,
    pub bss_customer_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<CustomerSummary> for CustomerSummaryView {
    fn from(c: CustomerSummary) -> Self {
        Self {
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            tier: c.tier,
            bss_customer_id: c.bss_customer_id,
            created_at: c.created_at,
        }
    }
}

/// A page of customers found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchView {
    pub items: Vec<CustomerSummaryView>,
    /// Customers whose billing account number is the query (first page only).
    pub by_account: Vec<CustomerSummaryView>,
    /// Pass back as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
    /// The billing system was asked for the account number and could not answer.
    pub bss_unavailable: bool,
}

/// A customer search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// 3 to 100 characters: part of a name, e-mail address or handle, a phone number (any
    /// spacing, `+` and country code), or a billing account number.
    q: String,
    /// 1 to 50, default 20.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Searches customers by name, e-mail address, phone number or handle, and by billing account
/// number (asked of the billing system). Erased and merged customers are not found. Audited.
/// (`GET /api/v1/customers?q=` is the administrators' privacy search, which finds those too.)
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(SearchQuery),
    responses(
        (status = 200, body = SearchView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`q` too short or long, a bad cursor", body = ErrorBody)
    )
)]
#[get("/customers/search")]
pub async fn search(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<SearchQuery>,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=crate::services::customers::MAX_SEARCH_PAGE).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 50"));
    }
    let page = state.customers.search(&query.q, limit, query.cursor.as_deref()).await?;
    let found = page.items.len() + page.by_account.len();
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CustomerSearched)
                .details(serde_json::json!({ "query_chars": query.q.chars().count(), "found": found })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(SearchView {
        items: page.items.into_iter().map(Into::into).collect(),
        by_account: page.by_account.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
        bss_unavailable: page.bss_unavailable,
    }))
}

/// `null` kept apart from absent: `Some(None)` clears a field.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The contact details to change: each field absent is left as it is; `null` (or `""`)
/// clears `name`, `email` or `phone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    /// E.164 (`+34911234567`; spaces, dots and dashes are dropped).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    /// `en`, `es` or `pt`.
    language: Option<String>,
    /// Marketing consents to set: `marketing_email`, `marketing_sms`, `marketing_phone`.
    #[serde(default)]
    consents: std::collections::BTreeMap<String, bool>,
}

/// Changes a customer's contact details and marketing consents (when and by whom is kept). An
/// e-mail address or phone number set here is also linked as a verified handle of theirs.
/// Every field is checked before anything is written. Audited (the fields changed).
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    request_body = ProfileBody,
    responses(
        (status = 204, description = "changed"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "neither a supervisor nor holding one of their conversations", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`handle_taken`: another customer has that address or number", body = ErrorBody),
        (status = 422, description = "a field does not validate (`field` names it)", body = ErrorBody)
    )
)]
#[patch("/customers/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    body: web::Json<ProfileBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let body = body.into_inner();
    let mut fields: Vec<&str> = Vec::new();
    for (name, set) in [
        ("name", body.name.is_some()),
        ("email", body.email.is_some()),
        ("phone", body.phone.is_some()),
        ("language", body.language.is_some()),
    ] {
        if set {
            fields.push(name);
        }
    }
    let patch = ProfilePatch {
        name: body.name,
        email: body.email,
        phone: body.phone,
        language: body.language,
        consents: body.consents.into_iter().collect(),
    };
    let change = state.customers.update(agent, *id, patch).await?;
    let consents: serde_json::Map<String, serde_json::Value> =
        change.consents.iter().map(|(k, g)| (k.as_str().to_owned(), serde_json::Value::Bool(*g))).collect();
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CustomerUpdated)
                .target(TargetKind::Customer, *id)
                .details(serde_json::json!({ "fields": fields, "consents": consents })),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A handle to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// `phone`, `voice`, `whatsapp` (an E.164 number), `email`, `messenger` (`page_id:psid`),
    /// `telegram` (the user id).
    channel: String,
    handle: String,
}

/// Links a handle to the customer, verified (the agent vouches for it): their next call,
/// message or authenticated mail from it finds them.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    request_body = LinkBody,
    responses(
        (status = 201, body = HandleView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`handle_taken`: another customer holds it (merge them)", body = ErrorBody),
        (status = 422, description = "`channel` or `handle` does not validate", body = ErrorBody)
    )
)]
#[post("/customers/{id}/handles")]
pub async fn link_handle(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    body: web::Json<LinkBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let handle = state.customers.link(agent, *id, &body.channel, &body.handle).await?;
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CustomerHandleLinked)
                .target(TargetKind::Customer, *id)
                .details(serde_json::json!({ "kind": handle.kind, "channel": handle.channel })),
        )
        .await?;
    Ok(HttpResponse::Created().json(HandleView::from(handle)))
}

/// Unlinks a handle from the customer (as the channel names it, or as listed in the profile);
/// their conversations stay theirs.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(
        ("id" = CustomerId, Path, description = "the customer"),
        ("channel" = String, Path, description = "as when linking, or the handle's `channel`"),
        ("handle" = String, Path, description = "the handle's `value` (URL-encoded)")
    ),
    responses(
        (status = 204, description = "unlinked"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such customer, or no such handle of theirs", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[delete("/customers/{id}/handles/{channel}/{handle}")]
pub async fn unlink_handle(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(CustomerId, String, String)>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let (id, channel, handle) = path.into_inner();
    let identity = state.customers.unlink(agent, id, &channel, &handle).await?;
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CustomerHandleUnlinked)
                .target(TargetKind::Customer, id)
                .details(serde_json::json!({ "kind": identity.kind })),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The customer to merge into this one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    from: CustomerId,
}

/// What a merge moved.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeView {
    pub id: CustomerId,
    pub merged: CustomerId,
    pub handles: u64,
    pub conversations: u64,
    pub consents: u64,
    pub legal_hold_carried: bool,
    pub bss_link_moved: bool,
}

/// Merges the customer `from` into this one, in one transaction: handles, conversations (with
/// their mail, calls and files) and consents move here; a legal hold on either holds this one;
/// contact details missing here are taken from `from`; the BSS link that exists is kept (two
/// different ones refuse the merge). `from` is left empty and cannot be merged again; erased
/// customers cannot be merged. Audited.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer kept")),
    request_body = MergeBody,
    responses(
        (status = 200, body = MergeView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not allowed to change both customers", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`merge_refused`", body = ErrorBody),
        (status = 422, description = "`from` is this customer", body = ErrorBody)
    )
)]
#[post("/customers/{id}/merge")]
pub async fn merge(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let merged = state.customers.merge(agent, *id, body.from).await?;
    let view = MergeView {
        id: *id,
        merged: body.from,
        handles: merged.handles,
        conversations: merged.conversations,
        consents: merged.consents,
        legal_hold_carried: merged.legal_hold_carried,
        bss_link_moved: merged.bss_link_moved,
    };
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CustomerMerged)
                .target(TargetKind::Customer, *id)
                .details(serde_json::to_value(&view).unwrap_or_default()),
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The billing system's customer to link (`null` unlinks).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BssLinkBody {
    bss_customer_id: Option<String>,
}

/// Links the customer to a customer of the billing system (found by search; checked there
/// first), or unlinks them. A billing customer is linked to one of ours at most. Audited.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    request_body = BssLinkBody,
    responses(
        (status = 204, description = "linked or unlinked"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "that billing customer is linked to another customer", body = ErrorBody),
        (status = 422, description = "a malformed reference", body = ErrorBody),
        (status = 503, description = "`bss_unavailable`: the billing system does not answer", body = ErrorBody)
    )
)]
#[put("/customers/{id}/bss-link")]
pub async fn bss_link(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
    body: web::Json<BssLinkBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let bss_id = body.bss_customer_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    state.customers.link_bss(agent, *id, bss_id).await?;
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CustomerBssLinked)
                .target(TargetKind::Customer, *id)
                .details(serde_json::json!({ "bss_customer_id": bss_id })),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One factor of a churn-risk score and what it adds.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChurnFactorView {
    /// `cancellation_intent`, `unresolved_complaints`, `repeated_contacts`, `aged_open_ticket`,
    /// `outage_exposure`, `repeated_transfers` or `low_csat` (docs/churn.md).
    pub factor: ChurnFactorKind,
    /// The units counted, after the factor's cap.
    pub units: u32,
    /// The points it adds to the score.
    pub points: u32,
}

/// A customer's churn risk: the score (0 to 100, the sum of the factors' points, at most 100),
/// its band (`low` under 30, `medium` from 30, `high` from 60), the factors that add points,
/// largest first, the signals they were computed from, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChurnRiskView {
    pub customer_id: CustomerId,
    pub score: u8,
    pub band: ChurnBand,
    pub factors: Vec<ChurnFactorView>,
    pub signals: ChurnSignals,
    #[serde(with = "time::serde::rfc3339")]
    pub computed_at: OffsetDateTime,
}

impl From<ChurnRisk> for ChurnRiskView {
    fn from(r: ChurnRisk) -> Self {
        Self {
            customer_id: r.customer_id,
            score: r.assessment.score,
            band: r.assessment.band,
            factors: r
                .assessment
                .factors
                .into_iter()
                .map(|f| ChurnFactorView { factor: f.factor, units: f.units, points: f.points })
                .collect(),
            signals: r.signals,
            computed_at: r.computed_at,
        }
    }
}

/// The customer's churn-risk score with its factors (agents and supervisors): the stored score
/// while under 5 minutes old, else computed now. Audited as a customer read.
#[utoipa::path(
    tag = "customers",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CustomerId, Path, description = "the customer")),
    responses(
        (status = 200, body = ChurnRiskView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/customers/{id}/churn-risk")]
pub async fn churn_risk(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let risk = state.churn.current(*id).await?;
    let event = Event::new(AuditAction::CustomerRead).target(TargetKind::Customer, risk.customer_id);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(ChurnRiskView::from(risk)))
}
