//! Settings admins change at run time (admin): the chat widget's look and allowed origins, how
//! long data is kept, and which roles must use two-step sign-in. Saved values apply at once,
//! without a restart; saving needs a recent sign-in (step-up).

use actix_web::{HttpResponse, get, put, web};
use schema::{AgentId, AuditAction, Role, TargetKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::config::WidgetSettings;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::audit::Event;
use crate::services::settings::{Retention, Saved};

/// Settings routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_widget)
        .service(save_widget)
        .service(get_retention)
        .service(save_retention)
        .service(get_mfa_policy)
        .service(save_mfa_policy);
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
    security(("bearer" = ["admin"])),
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
    security(("bearer" = ["admin"])),
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
    staff.require_fresh_auth(&state)?;
    let WidgetBody { title, greeting, primary_color, on_primary_color, allowed_origins } = body.into_inner();
    let input = WidgetSettings { allowed_origins, title, greeting, primary_color, on_primary_color };
    let (before, _) = state.settings.widget();
    let (w, s) = state.settings.save_widget(admin, input).await?;
    let event = Event::new(AuditAction::SettingsChanged).target(TargetKind::Setting, "widget").change(&before, &w);
    state.audit.record(&staff.actor(), event).await?;
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
    security(("bearer" = ["admin"])),
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
    security(("bearer" = ["admin"])),
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
    staff.require_fresh_auth(&state)?;
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
    let (before, _) = state.settings.retention();
    let (r, s) = state.settings.save_retention(admin, input).await?;
    let event = Event::new(AuditAction::SettingsChanged).target(TargetKind::Setting, "retention").change(&before, &r);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(retention_view(r, Some(s), state.config.retention.enabled)))
}

/// Which roles must use two-step sign-in (TOTP). Members of those roles who have not set it up
/// can only set it up (every other call answers 403 `mfa_enrolment_required`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicyBody {
    /// `agent`, `supervisor`, `bot_trainer`, `admin`, `auditor`; empty: nobody.
    required_roles: Vec<Role>,
}

/// The two-step sign-in policy in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaPolicyView {
    required_roles: Vec<Role>,
    /// `config` (`staff.mfa_required_roles`, until an admin saves) or `console`.
    source: &'static str,
    saved: Option<SavedView>,
}

fn mfa_policy_view(required_roles: Vec<Role>, s: Option<Saved>) -> MfaPolicyView {
    MfaPolicyView { required_roles, source: if s.is_some() { "console" } else { "config" }, saved: saved(s) }
}

/// Which roles must use two-step sign-in (admin).
#[utoipa::path(
    tag = "settings",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = MfaPolicyView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/settings/mfa")]
pub async fn get_mfa_policy(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let (roles, s) = state.settings.mfa_policy();
    Ok(HttpResponse::Ok().json(mfa_policy_view(roles, s)))
}

/// Saves which roles must use two-step sign-in (admin; needs a recent sign-in).
#[utoipa::path(
    tag = "settings",
    security(("bearer" = ["admin"])),
    request_body = MfaPolicyBody,
    responses(
        (status = 200, body = MfaPolicyView),
        (status = 401, description = "step_up_required", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "an unknown role", body = ErrorBody)
    )
)]
#[put("/settings/mfa")]
pub async fn save_mfa_policy(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<MfaPolicyBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let (before, _) = state.settings.mfa_policy();
    let (roles, s) = state.settings.save_mfa_policy(admin, body.into_inner().required_roles).await?;
    let event = Event::new(AuditAction::SettingsChanged)
        .target(TargetKind::Setting, "mfa")
        .change(&serde_json::json!({ "required_roles": before }), &serde_json::json!({ "required_roles": roles }));
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(mfa_policy_view(roles, Some(s))))
}
