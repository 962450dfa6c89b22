//! Staff sign-in over HTTP: the [`Staff`] extractor (bearer token, role check, step-up check),
//! the [`EnrollingStaff`] extractor (also lets through a member who must still set up two-step
//! sign-in), and the sign-in, second factor, step-up, sign-out, `me` and two-step set-up
//! endpoints.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, delete, get, post, web};
use schema::{Agent, AuditAction, Role, StaffSession, TargetKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::agents::SessionsEndedView;
use crate::http::client_address;
use crate::http::views::{AgentView, ErrorBody};
use crate::services::audit::{Actor, Event};
use crate::services::mfa::SecondFactor;
use crate::services::staff::{self, Activity, LoginOutcome, SignedIn};

/// Sign-in routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(login)
        .service(login_second_factor)
        .service(step_up)
        .service(logout)
        .service(logout_all)
        .service(me)
        .service(mfa_status)
        .service(mfa_start)
        .service(mfa_confirm)
        .service(mfa_recovery_codes)
        .service(mfa_disable);
}

/// The signed-in staff member of a request (and the address it came from, for the audit trail).
/// Extracting it fails with 401 when the bearer token is missing, unknown, revoked or expired.
#[derive(Clone, Debug)]
pub struct Staff(pub StaffSession, Option<IpAddr>);

impl Staff {
    /// The staff member.
    #[must_use]
    pub fn agent(&self) -> &Agent {
        &self.0.agent
    }

    /// Fails with 403 unless the staff member holds `role`.
    ///
    /// # Errors
    /// [`Error::Forbidden`].
    pub fn require(&self, role: Role) -> Result<&Agent, Error> {
        staff::require(&self.0.agent, role)
    }

    /// Fails with 401 `step_up_required` unless the member signed in or stepped up within
    /// `staff.step_up_secs` (for sensitive actions; the pages then ask and retry).
    ///
    /// # Errors
    /// [`Error::StepUpRequired`].
    pub fn require_fresh_auth(&self, state: &AppState) -> Result<(), Error> {
        state.sessions.require_fresh_auth(&self.0)
    }

    /// Fails with 403 unless the staff member holds one of `roles`.
    ///
    /// # Errors
    /// [`Error::Forbidden`].
    pub fn require_any(&self, roles: &[Role]) -> Result<&Agent, Error> {
        let agent = &self.0.agent;
        if roles.iter().any(|r| agent.has_role(*r)) {
            return Ok(agent);
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(Error::Forbidden(format!("this needs the {} role", names.join(" or "))))
    }

    /// Who acts, for the audit trail: this staff member, from the request's client address.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor::staff(self.0.agent.id, self.1)
    }
}

/// The signed-in staff member of a request, who may be a member whose role requires two-step
/// sign-in and who has not set it up yet (only the set-up, `me` and sign-out take this).
#[derive(Clone, Debug)]
pub struct EnrollingStaff(pub StaffSession);

impl EnrollingStaff {
    /// Who acts, for the audit trail: this member, from the request's client address.
    #[must_use]
    pub fn actor(&self, state: &AppState, req: &HttpRequest) -> Actor {
        Actor::staff(self.0.agent.id, client_address(&state.config, req))
    }
}

/// The staff token of a websocket upgrade request (`/ws/...`): the `Authorization` header, or,
/// since browsers cannot give a websocket headers, the `token` query parameter. Only the upgrade
/// routes take a token from the URL (URLs end up in proxy logs and browser histories); REST
/// routes read the header alone ([`Staff`], [`header_bearer`]).
pub fn socket_token(req: &HttpRequest) -> Option<String> {
    if req.headers().contains_key(actix_web::http::header::AUTHORIZATION) {
        return header_bearer(req).map(str::to_owned);
    }
    if !req.path().starts_with("/ws/") {
        return None;
    }
    web::Query::<TokenQuery>::from_query(req.query_string()).ok().and_then(|q| q.into_inner().token)
}

/// The token of an `Authorization: Bearer` header only: how every REST route takes it.
pub fn header_bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A session as the [`authz`](crate::http::authz) middleware found it, kept for the handler's
/// extractors: whether its member must still set up two-step sign-in decides which of
/// [`Staff`] (refuses) and [`EnrollingStaff`] (lets through) accepts it.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub session: StaffSession,
    pub enrolment_pending: bool,
}

impl Authenticated {
    /// The session whose token `req` carries (the one way a request is authenticated: the
    /// extractors and the middleware both come here), with whether two-step set-up is pending.
    ///
    /// # Errors
    /// 401 without a valid session; 503 if the store is down.
    pub fn of(req: &HttpRequest) -> impl Future<Output = Result<Self, Error>> + 'static {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let kept = req.extensions().get::<Self>().cloned();
        let token = header_bearer(req).map(str::to_owned);
        async move {
            if let Some(kept) = kept {
                return Ok(kept);
            }
            let state = state.ok_or_else(|| Error::Internal("application state missing".into()))?;
            let token =
                token.ok_or_else(|| Error::Unauthorized("sign in first: no `Authorization: Bearer` header".into()))?;
            let session = state.sessions.authenticate_enrolling(&token, Activity::Active).await?;
            let enrolment_pending = state.sessions.mfa().enrolment_pending(&session.agent).await?;
            Ok(Self { session, enrolment_pending })
        }
    }

    /// The session for a handler taking [`Staff`]: refused while two-step set-up is pending.
    ///
    /// # Errors
    /// 403 `mfa_enrolment_required`.
    pub fn staff(self, from: Option<IpAddr>) -> Result<Staff, Error> {
        if self.enrolment_pending {
            return Err(staff::enrolment_required());
        }
        Ok(Staff(self.session, from))
    }
}

impl FromRequest for Staff {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let authenticated = Authenticated::of(req);
        let ip = req.app_data::<web::Data<AppState>>().and_then(|s| client_address(&s.config, req));
        Box::pin(async move { authenticated.await?.staff(ip) })
    }
}

impl FromRequest for EnrollingStaff {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let authenticated = Authenticated::of(req);
        Box::pin(async move { Ok(Self(authenticated.await?.session)) })
    }
}

/// `Debug` that shows only the type's name: these carry passwords, codes or secrets.
macro_rules! redacted_debug {
    ($($name:ident),+) => {
        $(impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        })+
    };
}

redacted_debug!(FactorInput, SecondFactorRequest, StepUpRequest, TotpEnrolmentView, CodeRequest, RecoveryCodesView);

/// Whoever reads `/metrics`: the bearer token configured as `metrics.token` (Prometheus), or the
/// session of a supervisor or an admin.
///
/// # Errors
/// No or a wrong token (401), a session without the supervisor role (403).
pub async fn require_metrics_reader(state: &AppState, req: &HttpRequest) -> Result<(), Error> {
    let token = header_bearer(req)
        .ok_or_else(|| Error::Unauthorized("the metrics need an `Authorization: Bearer` token".into()))?;
    if let Some(expected) = &state.config.metrics.token {
        // Compared as digests: the time taken tells nothing about the expected token.
        use sha2::{Digest, Sha256};
        if Sha256::digest(token.as_bytes()) == Sha256::digest(expected.expose().as_bytes()) {
            return Ok(());
        }
    }
    let session = state.sessions.authenticate(token, Activity::Check).await?;
    staff::require(&session.agent, Role::Supervisor).map(|_| ())
}

/// A staff member's credentials.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).field("password", &"***").finish()
    }
}

/// A new staff session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token (shown once).
    token: String,
    /// When the session ends at the latest (it also ends after 15 minutes idle, by default).
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    agent: AgentView,
    /// The member's role requires two-step sign-in and they have none: until they set it up
    /// (`POST /api/v1/auth/mfa/totp`), every other call answers 403 `mfa_enrolment_required`.
    mfa_enrolment_required: bool,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse").field("agent", &self.agent.id).finish_non_exhaustive()
    }
}

impl From<SignedIn> for LoginResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self {
            expires_at: signed_in.session.expires_at,
            agent: AgentView::from(&signed_in.session.agent),
            mfa_enrolment_required: signed_in.enrolment_required,
            token: signed_in.token,
        }
    }
}

/// The password was right and the member set up two-step sign-in: send a code with this
/// challenge to `POST /api/v1/auth/login/mfa`.
#[derive(Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always `true`.
    mfa_required: bool,
    /// The challenge token (single use, short-lived).
    challenge: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A session, or a challenge for the second factor.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Session(LoginResponse),
    SecondFactor(MfaChallenge),
}

/// E-mail and password for a session token, or (when the member set up two-step sign-in) for
/// a challenge to answer with a code. Throttled per account and per address: repeated failures
/// lock sign-in for a while (429 with `Retry-After`, doubling with each further failure).
#[utoipa::path(
    tag = "staff",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginAnswer),
        (status = 400, description = "not JSON", body = ErrorBody),
        (status = 401, description = "wrong e-mail or password", body = ErrorBody),
        (status = 429, description = "too many attempts (see Retry-After)", body = ErrorBody),
        (status = 503, description = "too many sign-ins at once", body = ErrorBody),
        (status = 403, description = "`local_passwords_disabled`: sign in with single sign-on", body = ErrorBody)
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, Error> {
    let LoginRequest { email, password } = body.into_inner();
    let from = client_address(&state.config, &req);
    let answer = match state.password_policy.login(&state.sessions, &email, password, from).await? {
        LoginOutcome::SignedIn(signed_in) => LoginAnswer::Session(signed_in.into()),
        LoginOutcome::SecondFactor { challenge, expires_at } => {
            LoginAnswer::SecondFactor(MfaChallenge { mfa_required: true, challenge, expires_at })
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// A second factor: a 6-digit code from the authenticator app, or one of the recovery codes.
#[derive(Deserialize, ToSchema)]
pub struct FactorInput {
    code: Option<String>,
    recovery_code: Option<String>,
}

impl FactorInput {
    fn factor(&self) -> Option<SecondFactor<'_>> {
        match (&self.code, &self.recovery_code) {
            (Some(code), _) if !code.trim().is_empty() => Some(SecondFactor::Code(code)),
            (_, Some(code)) if !code.trim().is_empty() => Some(SecondFactor::Recovery(code)),
            _ => None,
        }
    }
}

/// The second step of a sign-in.
#[derive(Deserialize, ToSchema)]
pub struct SecondFactorRequest {
    /// The `challenge` of the `mfa_required` answer.
    challenge: String,
    #[serde(flatten)]
    factor: FactorInput,
}

/// The challenge and a code (`code`, or `recovery_code`) for a session token. A TOTP code is
/// accepted once; a recovery code is used up.
#[utoipa::path(
    tag = "staff",
    request_body = SecondFactorRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "wrong, reused or missing code, or an expired challenge", body = ErrorBody),
        (status = 429, description = "too many attempts (see Retry-After)", body = ErrorBody)
    )
)]
#[post("/auth/login/mfa")]
pub async fn login_second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SecondFactorRequest>,
) -> Result<HttpResponse, Error> {
    let factor = body.factor.factor().ok_or_else(|| Error::invalid("code", "enter a code or a recovery code"))?;
    let from = client_address(&state.config, &req);
    let signed_in = state.sessions.login_second_factor(&body.challenge, factor, from).await?;
    let signed_in = state.password_policy.admit(&state.sessions, signed_in, from).await?;
    Ok(HttpResponse::Ok().json(LoginResponse::from(signed_in)))
}

/// Proof of identity for a sensitive action: the password, and a code when the member set up
/// two-step sign-in.
#[derive(Deserialize, ToSchema)]
pub struct StepUpRequest {
    password: String,
    #[serde(flatten)]
    factor: FactorInput,
}

/// When the member last proved who they are.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepUpResponse {
    #[serde(with = "time::serde::rfc3339")]
    authenticated_at: OffsetDateTime,
}

/// Step-up: confirms the password (and a code, when two-step sign-in is set up) so that
/// sensitive actions (answering 401 `step_up_required`) are allowed for `staff.step_up_secs`.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    request_body = StepUpRequest,
    responses(
        (status = 200, body = StepUpResponse),
        (status = 401, description = "wrong password or code", body = ErrorBody),
        (status = 429, description = "too many attempts (see Retry-After)", body = ErrorBody)
    )
)]
#[post("/auth/step-up")]
pub async fn step_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    staff: EnrollingStaff,
    body: web::Json<StepUpRequest>,
) -> Result<HttpResponse, Error> {
    let StepUpRequest { password, factor } = body.into_inner();
    let authenticated_at =
        state.sessions.step_up(&staff.0, password, factor.factor(), client_address(&state.config, &req)).await?;
    Ok(HttpResponse::Ok().json(StepUpResponse { authenticated_at }))
}

/// Ends the caller's session.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    staff: EnrollingStaff,
) -> Result<HttpResponse, Error> {
    state.sessions.logout(&staff.0, &staff.actor(&state, &req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sign out everywhere: ends every session of the caller (this one too).
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 200, body = SessionsEndedView), (status = 401, body = ErrorBody))
)]
#[post("/auth/logout-all")]
pub async fn logout_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    staff: EnrollingStaff,
) -> Result<HttpResponse, Error> {
    let sessions_ended = state.sessions.logout_all(&staff.0, &staff.actor(&state, &req)).await?;
    Ok(HttpResponse::Ok().json(SessionsEndedView { sessions_ended }))
}

/// Who the token belongs to.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 200, body = AgentView), (status = 401, body = ErrorBody))
)]
#[get("/me")]
pub async fn me(staff: EnrollingStaff) -> HttpResponse {
    HttpResponse::Ok().json(AgentView::from(&staff.0.agent))
}

/// The caller's two-step sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusView {
    /// Set up (TOTP confirmed).
    enrolled: bool,
    /// One of the caller's roles requires it.
    required: bool,
    /// Unused recovery codes.
    recovery_codes_left: u32,
}

/// The caller's two-step sign-in state.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 200, body = MfaStatusView), (status = 401, body = ErrorBody))
)]
#[get("/auth/mfa")]
pub async fn mfa_status(state: web::Data<AppState>, staff: EnrollingStaff) -> Result<HttpResponse, Error> {
    let s = state.sessions.mfa().status(&staff.0.agent).await?;
    Ok(HttpResponse::Ok().json(MfaStatusView {
        enrolled: s.enrolled,
        required: s.required,
        recovery_codes_left: s.recovery_codes_left,
    }))
}

/// What an authenticator app needs (shown once; confirm with a code to finish).
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// The secret, base32, for typing it in.
    secret: String,
    /// The `otpauth://totp/…` URI.
    otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    qr_svg: String,
}

/// Starts setting up TOTP (replaces a set-up not yet confirmed). 409 when it is set up already
/// (turn it off first).
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolmentView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[post("/auth/mfa/totp")]
pub async fn mfa_start(state: web::Data<AppState>, staff: EnrollingStaff) -> Result<HttpResponse, Error> {
    let e = state.sessions.mfa().start(&staff.0.agent).await?;
    Ok(HttpResponse::Ok().json(TotpEnrolmentView { secret: e.secret, otpauth_uri: e.otpauth_uri, qr_svg: e.qr_svg }))
}

/// A code from the authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    code: String,
}

/// Recovery codes: each signs in once in place of a code. Shown once; only digests are kept.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    recovery_codes: Vec<String>,
}

/// Finishes setting up TOTP with a first code; answers the ten recovery codes.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, body = RecoveryCodesView),
        (status = 409, description = "no set-up pending", body = ErrorBody),
        (status = 422, description = "wrong code", body = ErrorBody)
    )
)]
#[post("/auth/mfa/totp/confirm")]
pub async fn mfa_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    staff: EnrollingStaff,
    body: web::Json<CodeRequest>,
) -> Result<HttpResponse, Error> {
    let codes = state.sessions.mfa().confirm(&staff.0.agent, &body.code).await?;
    let event = Event::new(AuditAction::MfaEnrolled).target(TargetKind::Agent, staff.0.agent.id);
    state.audit.record(&staff.actor(&state, &req), event).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesView { recovery_codes: codes.0 }))
}

/// New recovery codes; the old ones stop working. Needs a recent sign-in (step-up).
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RecoveryCodesView),
        (status = 401, description = "step_up_required", body = ErrorBody),
        (status = 409, description = "two-step sign-in is not set up", body = ErrorBody)
    )
)]
#[post("/auth/mfa/recovery-codes")]
pub async fn mfa_recovery_codes(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require_fresh_auth(&state)?;
    let codes = state.sessions.mfa().regenerate_recovery_codes(staff.agent()).await?;
    let event = Event::new(AuditAction::MfaRecoveryCodesRenewed).target(TargetKind::Agent, staff.agent().id);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesView { recovery_codes: codes.0 }))
}

/// Turns off the caller's two-step sign-in (to set it up again on another phone). Needs a
/// recent sign-in (step-up). A member whose role requires it can then only set it up again.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "turned off"),
        (status = 401, description = "step_up_required", body = ErrorBody),
        (status = 409, description = "two-step sign-in is not set up", body = ErrorBody)
    )
)]
#[delete("/auth/mfa")]
pub async fn mfa_disable(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require_fresh_auth(&state)?;
    state.sessions.mfa().disable_own(staff.agent()).await?;
    let event = Event::new(AuditAction::MfaDisabled).target(TargetKind::Agent, staff.agent().id);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::NoContent().finish())
}
