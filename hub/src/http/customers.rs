//! Customers (staff): the profile agents see beside a conversation: who the customer is, how
//! they reach us on each channel, and their conversations. Built to grow: the customer 360
//! (accounts, products, bills) adds sections beside `conversations`.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, web};
use schema::{
    AuditAction, AuthorKind, Channel, ContactHandle, Conversation, Customer, CustomerConversation, CustomerId,
    CustomerTier, DisplayName, EmailAddress, Language, MessagePreview, Role, TargetKind,
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

/// Customer routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(profile).service(history);
}

/// A customer's address on one channel: an e-mail address (`email`), a phone number
/// (`voice`), or a platform id as `account_id:sender_id` (`whatsapp`, `messenger`, `telegram`).
#[derive(Debug, Serialize, ToSchema)]
pub struct HandleView {
    pub channel: Channel,
    pub handle: String,
}

impl From<ContactHandle> for HandleView {
    fn from(h: ContactHandle) -> Self {
        Self { channel: h.channel, handle: h.handle }
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
}

impl From<CustomerConversation> for CustomerConversationView {
    fn from(c: CustomerConversation) -> Self {
        Self { conversation: c.conversation, subject: c.subject, last_message: c.last_message.map(Into::into) }
    }
}

/// A customer, as agents see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerProfile {
    pub id: CustomerId,
    /// Card numbers in it are masked.
    pub name: Option<DisplayName>,
    pub email: Option<EmailAddress>,
    pub language: Language,
    pub tier: CustomerTier,
    /// How the customer reaches us, by channel.
    pub handles: Vec<HandleView>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Their conversations on every channel, newest first (the current one included); the
    /// next pages from `GET /api/v1/customers/{id}/conversations?cursor=`.
    pub conversations: Page<CustomerConversationView>,
}

impl CustomerProfile {
    fn of(c: Customer, conversations: schema::Page<CustomerConversation>) -> Self {
        Self {
            id: c.id,
            name: c.name,
            email: c.email,
            language: c.language,
            tier: c.tier,
            handles: c.handles.into_iter().map(Into::into).collect(),
            created_at: c.created_at,
            conversations: Page::of(conversations),
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
    let customer = state.core.store.customer(*id).await?;
    let conversations = state.core.store.customer_conversations(customer.id, limit, query.cursor.as_deref()).await?;
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::CustomerRead).target(TargetKind::Customer, customer.id))
        .await?;
    Ok(HttpResponse::Ok().json(CustomerProfile::of(customer, conversations)))
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
