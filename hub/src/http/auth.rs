//! Staff sign-in over HTTP: the [`Staff`] extractor (bearer token, role check) and the
//! login/logout/me endpoints.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use schema::{Agent, Role, StaffSession};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::views::{AgentView, ErrorBody};
use crate::services::staff::{self, Activity, SignedIn};

/// Sign-in routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(login).service(logout).service(me);
}

/// The signed-in staff member of a request. Extracting it fails with 401 when the bearer token is
/// missing, unknown, revoked or expired.
#[derive(Clone, Debug)]
pub struct Staff(pub StaffSession);

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
}

/// The bearer token of a request: the `Authorization` header, or for websockets (which browsers
/// cannot give headers) the `token` query parameter.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    if req.headers().contains_key(actix_web::http::header::AUTHORIZATION) {
        return header_bearer(req).map(str::to_owned);
    }
    web::Query::<TokenQuery>::from_query(req.query_string()).ok().and_then(|q| q.into_inner().token)
}

/// The token of an `Authorization: Bearer` header only (for REST calls that never take one in
/// the URL).
pub fn header_bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequest for Staff {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| Error::Internal("application state missing".into()))?;
            let token = token.ok_or_else(|| Error::Unauthorized("sign in first: no bearer token".into()))?;
            Ok(Self(state.sessions.authenticate(&token, Activity::Active).await?))
        })
    }
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
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse").field("agent", &self.agent.id).finish_non_exhaustive()
    }
}

/// E-mail and password for a session token.
#[utoipa::path(
    tag = "staff",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, description = "not JSON", body = ErrorBody),
        (status = 401, description = "wrong e-mail or password", body = ErrorBody),
        (status = 403, description = "`local_passwords_disabled`: sign in with single sign-on", body = ErrorBody)
    )
)]
#[post("/auth/login")]
pub async fn login(state: web::Data<AppState>, body: web::Json<LoginRequest>) -> Result<HttpResponse, Error> {
    let LoginRequest { email, password } = body.into_inner();
    let signed_in = state.password_policy.login(&state.sessions, &email, password).await?;
    Ok(HttpResponse::Ok().json(LoginResponse::from(signed_in)))
}

impl From<SignedIn> for LoginResponse {
    fn from(signed_in: SignedIn) -> Self {
        let session = &signed_in.session;
        Self { expires_at: session.expires_at, agent: AgentView::from(&session.agent), token: signed_in.token }
    }
}

/// Ends the caller's session.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody))
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    state.sessions.logout(&staff.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who the token belongs to.
#[utoipa::path(
    tag = "staff",
    security(("bearer" = [])),
    responses((status = 200, body = AgentView), (status = 401, body = ErrorBody))
)]
#[get("/me")]
pub async fn me(staff: Staff) -> HttpResponse {
    HttpResponse::Ok().json(AgentView::from(staff.agent()))
}
