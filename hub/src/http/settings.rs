//! Settings admins change at run time (admin): the chat widget's look and allowed origins, and
//! how long data is kept. Saved values apply at once, without a restart.

use actix_web::{HttpResponse, get, put, web};
use schema::{AgentId, Role};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::config::WidgetSettings;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::settings::{Retention, Saved};

/// Settings routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_widget).service(save_widget).service(get_retention).service(save_retention);
}

/// Who saved a setting, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedView {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    by: AgentId,
}

fn saved(s: Option<Saved>) -> Option<SavedView> {
    s.map(|s| SavedView { at: s.at, by: s.by })
}

/// The chat widget's settings as an admin edits them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetBody {
    /// The panel's title (at most 60 characters); empty: the translated default.
    title: String,
    /// The customer's first line (at most 300 characters); empty: the translated default.
    greeting: String,
    /// `#rrggbb`: launcher, header, the customer's bubbles.
    primary_color: String,
    /// `#rrggbb`: text on the primary colour; a contrast of at least 4.5:1 with it.
    on_primary_color: String,
    /// Origins (`https://shop.example`, or `*`) whose pages may use the chat; at most 50.
    allowed_origins: Vec<String>,
}

/// The chat widget's settings in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetView {
    title: String,
    greeting: String,
    primary_color: String,
    on_primary_color: String,
    allowed_origins: Vec<String>,
    /// `config` (the config file's `[widget]`, until an admin saves) or `console`.
    source: &'static str,
    saved: Option<SavedView>,
}

fn widget_view(w: WidgetSettings, s: Option<Saved>) -> WidgetView {
    WidgetView {
        source: if s.is_some() { "console" } else { "config" },
        saved: saved(s),
        title: w.title,
        greeting: w.greeting,
        primary_color: w.primary_color,
        on_primary_color: w.on_primary_color,
        allowed_origins: w.allowed_origins,
    }
}

/// The chat widget's look and allowed origins (admin).
#[utoipa::path(
    tag = "settings",
    security(("bearer" = [])),
    responses((status = 200, body = WidgetView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/settings/widget")]
pub async fn get_widget(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let (w, s) = state.settings.widget();
    Ok(HttpResponse::Ok().json(widget_view(w, s)))
}

/// Saves the chat widget's look and allowed origins (admin); they apply at once, over the config
/// file's `[widget]`.
#[utoipa::path(
    tag = "settings",
    security(("bearer" = [])),
    request_body = WidgetBody,
    responses(
        (status = 200, body = WidgetView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a field does not validate (a colour, too little contrast, an origin, a length)", body = ErrorBody)
    )
)]
#[put("/settings/widget")]
pub async fn save_widget(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<WidgetBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    let WidgetBody { title, greeting, primary_color, on_primary_color, allowed_origins } = body.into_inner();
    let input = WidgetSettings { allowed_origins, title, greeting, primary_color, on_primary_color };
    let (w, s) = state.settings.save_widget(admin, input).await?;
    Ok(HttpResponse::Ok().json(widget_view(w, Some(s))))
}

/// How long data is kept, in days (1 to 3650).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    conversations_days: u32,
    /// At most `conversations_days`.
    messages_days: u32,
    audit_days: u32,
    /// Raw copies of mail; 730 when left out.
    #[serde(default)]
    raw_mail_days: Option<u32>,
    /// E-mail attachments and web chat files; 730 when left out.
    #[serde(default)]
    attachments_days: Option<u32>,
    /// The caller's number on call records; 730 when left out.
    #[serde(default)]
    calls_days: Option<u32>,
}

/// The retention settings in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    conversations_days: u32,
    messages_days: u32,
    audit_days: u32,
    raw_mail_days: u32,
    attachments_days: u32,
    calls_days: u32,
    /// Whether the hub's retention job enforces these settings (`[retention] enabled`).
    enforced: bool,
    saved: Option<SavedView>,
}

fn retention_view(r: Retention, s: Option<Saved>, enforced: bool) -> RetentionView {
    RetentionView {
        conversations_days: r.conversations_days,
        messages_days: r.messages_days,
        audit_days: r.audit_days,
        raw_mail_days: r.raw_mail_days,
        attachments_days: r.attachments_days,
        calls_days: r.calls_days,
        enforced,
        saved: saved(s),
    }
}

/// How long conversations, messages and the audit trail are kept (admin).
#[utoipa::path(
    tag = "settings",
    security(("bearer" = [])),
    responses((status = 200, body = RetentionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/settings/retention")]
pub async fn get_retention(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let (r, s) = state.settings.retention();
    Ok(HttpResponse::Ok().json(retention_view(r, s, state.config.retention.enabled)))
}

/// Saves the retention settings (admin).
#[utoipa::path(
    tag = "settings",
    security(("bearer" = [])),
    request_body = RetentionBody,
    responses(
        (status = 200, body = RetentionView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a value out of bounds, or messages kept longer than conversations", body = ErrorBody)
    )
)]
#[put("/settings/retention")]
pub async fn save_retention(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<RetentionBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    let RetentionBody { conversations_days, messages_days, audit_days, raw_mail_days, attachments_days, calls_days } =
        body.into_inner();
    let default = Retention::default();
    let input = Retention {
        conversations_days,
        messages_days,
        audit_days,
        raw_mail_days: raw_mail_days.unwrap_or(default.raw_mail_days),
        attachments_days: attachments_days.unwrap_or(default.attachments_days),
        calls_days: calls_days.unwrap_or(default.calls_days),
    };
    let (r, s) = state.settings.save_retention(admin, input).await?;
    Ok(HttpResponse::Ok().json(retention_view(r, Some(s), state.config.retention.enabled)))
}
