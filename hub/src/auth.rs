//! Staff authentication: argon2 passwords, bearer session tokens, and the per-endpoint role check.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use schema::{Agent, AuthMethod, EmailAddress, Role, StaffSession};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::AppState;
use crate::error::ApiError;

/// Staff passwords must have at least this many characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Prefix of staff session tokens, so secret scanners can spot a leaked one.
const TOKEN_PREFIX: &str = "sbs_";
/// A session's activity is written back at most this often.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Hashes a password with argon2id (default, OWASP-recommended parameters).
///
/// # Errors
/// A password shorter than [`MIN_PASSWORD_CHARS`].
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ApiError::Validation(schema::ValidationError::Invalid {
            field: "password",
            reason: format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        }));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the e-mail is unknown, so both failures take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no such user, no such password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", B64.encode(bytes))
}

/// When a session last active at `now` expires: idle timeout, capped by the absolute lifetime.
fn expiry(state: &AppState, created_at: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    let idle = now + Duration::seconds(i64::try_from(state.config.staff.session_idle_secs).unwrap_or(i64::MAX / 2));
    let max =
        created_at + Duration::seconds(i64::try_from(state.config.staff.session_max_secs).unwrap_or(i64::MAX / 2));
    idle.min(max)
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
    /// [`ApiError::Forbidden`].
    pub fn require(&self, role: Role) -> Result<&Agent, ApiError> {
        if self.0.agent.has_role(role) {
            Ok(&self.0.agent)
        } else {
            Err(ApiError::Forbidden(format!("this needs the {role} role")))
        }
    }
}

/// The bearer token of a request: the `Authorization` header, or for websockets (which browsers
/// cannot give headers) the `token` query parameter.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        return h.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(|t| t.trim().to_owned());
    }
    web::Query::<TokenQuery>::from_query(req.query_string()).ok().and_then(|q| q.into_inner().token)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Whether checking a token counts as the staff member being active (pushing back idle expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// A request or a reply: the person did something.
    Active,
    /// A background re-check (an open socket's heartbeat): not activity.
    Check,
}

/// Checks a staff bearer token and, for [`Activity::Active`], records the activity.
///
/// # Errors
/// 401 for a bad token; 503 if the store is down.
pub async fn authenticate(state: &AppState, token: &str, activity: Activity) -> Result<StaffSession, ApiError> {
    let unauthorized = || ApiError::Unauthorized("sign in again: the session is invalid or has expired".into());
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(unauthorized());
    }
    let digest = digest(token);
    let session = state.store.live_session(&digest).await?.ok_or_else(unauthorized)?;
    if !session.agent.active {
        return Err(unauthorized());
    }
    let now = OffsetDateTime::now_utc();
    if activity == Activity::Active && now - session.last_seen_at >= TOUCH_EVERY {
        state.store.touch_session(&digest, expiry(state, session.created_at, now)).await?;
    }
    Ok(session)
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let token = token.ok_or_else(|| ApiError::Unauthorized("sign in first: no bearer token".into()))?;
            Ok(Self(authenticate(&state, &token, Activity::Active).await?))
        })
    }
}

#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).field("password", &"***").finish()
    }
}

#[derive(Serialize)]
struct LoginResponse<'a> {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    agent: &'a Agent,
}

/// `POST /api/v1/auth/login`: e-mail and password for a session token.
pub async fn login(state: web::Data<AppState>, body: web::Json<LoginRequest>) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let refused = || ApiError::Unauthorized("wrong e-mail or password".into());
    let creds = match email.parse::<EmailAddress>() {
        Ok(email) => state.store.agent_credentials(&email).await?,
        Err(_) => None,
    };
    let (agent, hash, known) = match creds {
        Some((agent, hash)) if agent.active => (Some(agent), hash, true),
        _ => (None, dummy_hash().to_owned(), false),
    };
    let verified = web::block(move || verify_password(&hash, &password))
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    let agent = match agent {
        Some(agent) if verified && known => agent,
        _ => {
            tracing::info!(email_known = known, "sign-in refused");
            return Err(refused());
        }
    };
    let token = new_token();
    let now = OffsetDateTime::now_utc();
    let session =
        state.store.create_session(&digest(&token), &agent, AuthMethod::Password, expiry(&state, now, now)).await?;
    tracing::info!(agent_id = %agent.id, "staff signed in");
    Ok(HttpResponse::Ok().json(LoginResponse { token, expires_at: session.expires_at, agent: &agent }))
}

/// `POST /api/v1/auth/logout`: ends the caller's session.
pub async fn logout(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    state.store.revoke_session(&staff.0.token_digest).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/me`: who the token belongs to.
pub async fn me(staff: Staff) -> HttpResponse {
    HttpResponse::Ok().json(staff.agent())
}
