//! Staff accounts (admin: create, roles, disable/enable, password resets, ending sessions,
//! resetting two-step sign-in; the changes need a recent sign-in, see `Staff::require_fresh_auth`),
//! agents' routing profiles (supervisor), presence (the agent, or a supervisor for them), and
//! softphone identities (admin).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use schema::{AgentId, AuditAction, Capacity, Presence, Role, SipIdentity, SkillLevel, SkillName, TargetKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{AgentView, ErrorBody};
use crate::services::audit::Event;
use crate::services::staff::new_agent;
use crate::services::tickets::{Profile, ProfileInput};
use crate::services::voice;

/// Staff, routing-profile, presence and softphone routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(set_roles)
        .service(disable)
        .service(enable)
        .service(reset_password)
        .service(revoke_sessions)
        .service(reset_mfa)
        .service(set_team)
        .service(get_profile)
        .service(set_profile)
        .service(set_presence)
        .service(set_agent_presence)
        .service(get_identity)
        .service(set_identity);
}

/// A staff member and their presence. Only an admin sees the account (e-mail, roles, active,
/// created): colleagues see whom they can hand a ticket to, not who can sign in as what.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    id: AgentId,
    name: schema::DisplayName,
    /// `available`, `busy`, `away` or `offline`.
    presence: Presence,
    /// The team they are in, if any (reports filter by it).
    team: Option<schema::TeamName>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    account: Option<AccountView>,
}

/// The account part of [`StaffView`], for admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    email: schema::EmailAddress,
    roles: Vec<Role>,
    active: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Live (signed-in) sessions.
    sessions: u32,
    /// Two-step sign-in (TOTP) is set up.
    mfa_enrolled: bool,
}

impl StaffView {
    fn admin(
        agent: schema::Agent,
        presence: Presence,
        team: Option<schema::TeamName>,
        sessions: u32,
        mfa_enrolled: bool,
    ) -> Self {
        Self {
            id: agent.id,
            name: agent.name,
            presence,
            team,
            account: Some(AccountView {
                email: agent.email,
                roles: agent.roles,
                active: agent.active,
                created_at: agent.created_at,
                sessions,
                mfa_enrolled,
            }),
        }
    }
}

/// Staff with their presence, by name: every staff member for an admin; for an agent or a
/// supervisor, the active agents (the people a ticket can be transferred to).
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    responses((status = 200, body = Vec<StaffView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/agents")]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    let caller = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let sessions = if caller.has_role(Role::Admin) {
        Some((state.accounts.session_counts().await?, state.sessions.mfa().enrolled_members().await?))
    } else {
        None
    };
    let mut teams = state.accounts.teams().await?;
    let agents: Vec<StaffView> = state
        .tickets
        .directory(caller)
        .await?
        .into_iter()
        .map(|(agent, presence)| {
            let team = teams.remove(&agent.id);
            match &sessions {
                Some((counts, enrolled)) => {
                    let n = counts.get(&agent.id).copied().unwrap_or(0);
                    let mfa = enrolled.contains(&agent.id);
                    StaffView::admin(agent, presence, team, n, mfa)
                }
                None => StaffView { id: agent.id, name: agent.name, presence, team, account: None },
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(agents))
}

/// A new staff member.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    email: String,
    name: String,
    /// `agent`, `supervisor`, `bot_trainer`, `admin`, `auditor`.
    roles: Vec<String>,
    /// At least 12 characters.
    password: String,
}

impl std::fmt::Debug for CreateAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAgent").field("email", &self.email).field("roles", &self.roles).finish_non_exhaustive()
    }
}

/// A new staff member (admin).
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    request_body = CreateAgent,
    responses(
        (status = 201, body = AgentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "the e-mail is taken", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/agents")]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<CreateAgent>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let body = body.into_inner();
    let new = new_agent(&body.email, &body.name, &body.roles, body.password).await?;
    let agent = state.core.store.create_agent(new).await?;
    tracing::info!(agent_id = %agent.id, by = %staff.agent().id, "staff member created");
    let after = json!({"email": agent.email.as_str(), "name": agent.name.as_str(), "roles": agent.roles});
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::AccountCreated).target(TargetKind::Agent, agent.id).after(&after),
        )
        .await?;
    Ok(HttpResponse::Created().json(AgentView::from(&agent)))
}

/// A staff member's new roles.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    /// `agent`, `supervisor`, `bot_trainer`, `admin`, `auditor`: at least one.
    roles: Vec<String>,
}

async fn account_view(state: &AppState, agent: schema::Agent) -> Result<StaffView, Error> {
    let presence = state.routing.presence(agent.id).await?;
    let sessions = state.accounts.session_counts().await?.get(&agent.id).copied().unwrap_or(0);
    let mfa = state.sessions.mfa().enrolled(agent.id).await?;
    let team = state.accounts.teams().await?.remove(&agent.id);
    Ok(StaffView::admin(agent, presence, team, sessions, mfa))
}

/// Replaces a staff member's roles (admin). Refused with 409 when no active admin would be left.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    request_body = RolesBody,
    responses(
        (status = 200, body = StaffView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "no active admin would be left", body = ErrorBody),
        (status = 422, description = "no role, or an unknown one", body = ErrorBody)
    )
)]
#[put("/agents/{id}/roles")]
pub async fn set_roles(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<RolesBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let (before, agent) = state.accounts.set_roles(admin, *id, &body.roles).await?;
    let change =
        Event::new(AuditAction::RolesChanged).change(&json!({"roles": before}), &json!({"roles": agent.roles}));
    state.audit.record(&staff.actor(), change.target(TargetKind::Agent, agent.id)).await?;
    Ok(HttpResponse::Ok().json(account_view(&state, agent).await?))
}

/// Disables a staff member (admin): they cannot sign in, every session of theirs ends, and their
/// open sockets close with 4401 at the next heartbeat. Refused with 409 when no active admin
/// would be left.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    responses(
        (status = 200, body = StaffView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "no active admin would be left", body = ErrorBody)
    )
)]
#[post("/agents/{id}/disable")]
pub async fn disable(state: web::Data<AppState>, staff: Staff, id: web::Path<AgentId>) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let agent = state.accounts.set_active(admin, *id, false).await?;
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::AccountDisabled).target(TargetKind::Agent, agent.id))
        .await?;
    Ok(HttpResponse::Ok().json(account_view(&state, agent).await?))
}

/// Enables a disabled staff member again (admin).
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    responses(
        (status = 200, body = StaffView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[post("/agents/{id}/enable")]
pub async fn enable(state: web::Data<AppState>, staff: Staff, id: web::Path<AgentId>) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let agent = state.accounts.set_active(admin, *id, true).await?;
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::AccountEnabled).target(TargetKind::Agent, agent.id))
        .await?;
    Ok(HttpResponse::Ok().json(account_view(&state, agent).await?))
}

/// A password reset: the new password, or nothing for a generated one-time password.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// At least 12 characters. Omitted: the hub generates one and answers it once.
    password: Option<String>,
}

impl std::fmt::Debug for PasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordBody").field("password", &self.password.as_ref().map(|_| "***")).finish()
    }
}

/// What a password reset did.
#[derive(Serialize, ToSchema)]
pub struct PasswordResetView {
    /// The generated one-time password, shown this once (absent when the admin gave one).
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    /// Sessions of the member that ended.
    sessions_ended: u64,
}

impl std::fmt::Debug for PasswordResetView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetView").field("sessions_ended", &self.sessions_ended).finish_non_exhaustive()
    }
}

/// Sets a staff member's password (admin): the one given, or a generated one answered once.
/// Every session of the member ends.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    request_body = PasswordBody,
    responses(
        (status = 200, body = PasswordResetView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "the password is too short", body = ErrorBody)
    )
)]
#[post("/agents/{id}/password")]
pub async fn reset_password(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let reset = state.accounts.reset_password(admin, *id, body.into_inner().password).await?;
    let details = json!({"generated": reset.generated.is_some(), "sessions_ended": reset.sessions_ended});
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::PasswordReset).target(TargetKind::Agent, *id).details(details))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PasswordResetView { password: reset.generated, sessions_ended: reset.sessions_ended }))
}

/// Sessions that ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEndedView {
    pub(crate) sessions_ended: u64,
}

/// Ends every session of a staff member (admin); their open sockets close with 4401 at the next
/// heartbeat.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    responses(
        (status = 200, body = SessionsEndedView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[delete("/agents/{id}/sessions")]
pub async fn revoke_sessions(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    let sessions_ended = state.accounts.revoke_sessions(admin, *id).await?;
    let details = json!({"sessions_ended": sessions_ended});
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::SessionsEnded).target(TargetKind::Agent, *id).details(details))
        .await?;
    Ok(HttpResponse::Ok().json(SessionsEndedView { sessions_ended }))
}

/// Resets a staff member's two-step sign-in (admin; a lost phone): it is removed and every
/// session of theirs ends; they sign in with their password and, when their role requires it,
/// set it up again. Needs a recent sign-in.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    responses(
        (status = 200, body = StaffView),
        (status = 401, description = "step_up_required", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[post("/agents/{id}/mfa/reset")]
pub async fn reset_mfa(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    state.sessions.mfa().reset(admin, *id).await?;
    state.audit.record(&staff.actor(), Event::new(AuditAction::MfaReset).target(TargetKind::Agent, *id)).await?;
    let agent = state.core.store.agent(*id).await?;
    Ok(HttpResponse::Ok().json(account_view(&state, agent).await?))
}

// ---- routing profiles and presence ------------------------------------------------------------

/// A staff member's team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    /// A team name (lower-case letters, digits, `-` and `_`, at most 50); `null` or empty: no
    /// team. A new name makes a new team.
    team: Option<String>,
}

/// Puts a staff member in a team, or in none (admin). An agent is in at most one team; reports
/// count each 15-minute bucket for the team the agent was in then (docs/reports.md, "Teams").
#[utoipa::path(
    tag = "staff",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the staff member")),
    request_body = TeamBody,
    responses(
        (status = 200, body = StaffView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "not a team name", body = ErrorBody)
    )
)]
#[put("/agents/{id}/team")]
pub async fn set_team(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<TeamBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    let (before, agent, after) = state.accounts.set_team(admin, *id, body.team.as_deref()).await?;
    let change = Event::new(AuditAction::TeamChanged).change(&json!({"team": before}), &json!({"team": after}));
    state.audit.record(&staff.actor(), change.target(TargetKind::Agent, agent.id)).await?;
    Ok(HttpResponse::Ok().json(account_view(&state, agent).await?))
}

/// An agent's routing profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// Skill → level, 1 to 10.
    skills: BTreeMap<String, i64>,
    /// Channel → most tickets at once (0 to 20). Omitted: the default capacity.
    capacity: Option<BTreeMap<String, i64>>,
    /// Channels whose work blocks every other (default: voice).
    exclusive: Option<Vec<String>>,
}

/// An agent's routing profile and presence.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    agent_id: AgentId,
    skills: BTreeMap<SkillName, SkillLevel>,
    capacity: Capacity,
    presence: Presence,
}

impl From<Profile> for ProfileView {
    fn from(p: Profile) -> Self {
        Self { agent_id: p.agent_id, skills: p.skills, capacity: p.capacity, presence: p.presence }
    }
}

/// An agent's skills, capacity and presence (supervisor, or the agent themselves).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = AgentId, Path, description = "the agent")),
    responses(
        (status = 200, body = ProfileView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/agents/{id}/routing")]
pub async fn get_profile(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, Error> {
    // Their own profile for an agent; anyone's for a supervisor (who need not be an agent).
    if staff.agent().id == *id {
        staff.require(Role::Agent)?;
    } else {
        staff.require(Role::Supervisor)?;
    }
    Ok(HttpResponse::Ok().json(ProfileView::from(state.tickets.profile(*id).await?)))
}

/// Sets an agent's skills with levels and capacity per channel (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    params(("id" = AgentId, Path, description = "the agent")),
    request_body = ProfileBody,
    responses(
        (status = 200, body = ProfileView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "an unknown skill, a level or capacity out of range", body = ErrorBody)
    )
)]
#[put("/agents/{id}/routing")]
pub async fn set_profile(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<ProfileBody>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let ProfileBody { skills, capacity, exclusive } = body.into_inner();
    let after = json!({"skills": skills, "capacity": capacity, "exclusive": exclusive});
    let profile = state.tickets.set_profile(*id, ProfileInput { skills, capacity, exclusive }).await?;
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::RoutingProfileChanged).target(TargetKind::Agent, *id).after(&after),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ProfileView::from(profile)))
}

/// A presence to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// `available`, `busy`, `away` or `offline`.
    presence: String,
}

/// An agent's presence.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceView {
    agent_id: AgentId,
    presence: Presence,
}

/// Sets the caller's presence (agent).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["agent"])),
    request_body = PresenceBody,
    responses(
        (status = 200, body = PresenceView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[put("/me/presence")]
pub async fn set_presence(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let presence = state.tickets.set_presence(agent.id, &body.presence).await?;
    Ok(HttpResponse::Ok().json(PresenceView { agent_id: agent.id, presence }))
}

/// Sets an agent's presence (supervisor): `available` and `busy` need the agent's inbox open,
/// since offers would go to nobody; `away` and `offline` always work (offline withdraws live
/// offers). Logged with who did it.
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    params(("id" = AgentId, Path, description = "the agent")),
    request_body = PresenceBody,
    responses(
        (status = 200, body = PresenceView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "available or busy for an agent whose inbox is closed", body = ErrorBody),
        (status = 422, description = "an unknown presence, or not an active agent", body = ErrorBody)
    )
)]
#[put("/agents/{id}/presence")]
pub async fn set_agent_presence(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let presence = state.tickets.set_agent_presence(supervisor, *id, &body.presence).await?;
    let after = json!({"presence": presence});
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::PresenceChanged).target(TargetKind::Agent, *id).after(&after))
        .await?;
    Ok(HttpResponse::Ok().json(PresenceView { agent_id: *id, presence }))
}

// ---- softphone identities ---------------------------------------------------------------------

/// A softphone's SIP credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    username: String,
    /// 8 to 128 printable characters; only its digest HA1 is stored.
    password: String,
}

impl std::fmt::Debug for IdentityBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityBody").field("username", &self.username).finish_non_exhaustive()
    }
}

/// An agent's softphone identity, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    agent_id: AgentId,
    username: String,
    realm: String,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// The softphone's live registrations (empty when SIP is off).
    registrations: Vec<RegistrationView>,
}

/// A live softphone registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    contact: String,
    expires_in_secs: u64,
}

async fn identity_view(state: &AppState, identity: SipIdentity) -> IdentityView {
    let registrations = match &state.voice {
        Some(v) => v
            .registrations(identity.agent_id)
            .await
            .into_iter()
            .map(|(contact, expires_in_secs)| RegistrationView { contact, expires_in_secs })
            .collect(),
        None => Vec::new(),
    };
    IdentityView {
        agent_id: identity.agent_id,
        username: identity.username,
        realm: identity.realm,
        updated_at: identity.updated_at,
        registrations,
    }
}

/// Sets the agent's softphone username and password (admin). Only `MD5(username:realm:password)`
/// is stored.
#[utoipa::path(
    tag = "voice",
    security(("bearer" = ["admin"])),
    params(("id" = AgentId, Path, description = "the agent")),
    request_body = IdentityBody,
    responses(
        (status = 200, body = IdentityView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[put("/agents/{id}/sip")]
pub async fn set_identity(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<IdentityBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let IdentityBody { username, password } = body.into_inner();
    let store = &state.core.store;
    let identity =
        voice::set_identity(store, &state.config.sip.realm, state.voice.as_deref(), *id, username, &password).await?;
    tracing::info!(agent_id = %identity.agent_id, username = %identity.username, by = %admin.id, "SIP identity set");
    let after = json!({"username": identity.username.to_string()});
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::SipIdentityChanged).target(TargetKind::Agent, *id).after(&after),
        )
        .await?;
    Ok(HttpResponse::Ok().json(identity_view(&state, identity).await))
}

/// The agent's softphone identity without its secret, and its live registrations (admin, or the
/// agent themselves).
#[utoipa::path(
    tag = "voice",
    security(("bearer" = ["agent"])),
    params(("id" = AgentId, Path, description = "the agent")),
    responses(
        (status = 200, body = IdentityView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/agents/{id}/sip")]
pub async fn get_identity(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, Error> {
    let me = staff.require(Role::Agent)?;
    if me.id != *id && !me.has_role(Role::Admin) {
        return Err(Error::Forbidden("only an admin or the agent themselves can see this".into()));
    }
    let identity = state.core.store.sip_identity(*id).await?.ok_or(Error::NotFound("SIP identity"))?;
    Ok(HttpResponse::Ok().json(identity_view(&state, identity).await))
}
