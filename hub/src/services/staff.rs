//! Staff accounts and sessions: argon2 passwords, sign-in (throttled; two-step when the member
//! set up TOTP), bearer session tokens with idle and absolute expiry, step-up (a fresh proof of
//! identity before sensitive actions), the creation of staff members (by an admin, at start, by
//! the CLI), and what admins do to accounts (roles, disabling, password resets, ending sessions).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use schema::{
    AccountChange, Agent, AgentId, AuditAction, AuthMethod, DisplayName, EmailAddress, NewAgent, Presence, Role,
    StaffSession, Store, TargetKind,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::config::StaffConfig;
use crate::error::Error;
use crate::services::audit::{Actor, Audit, Event, typed};
use crate::services::mfa::{Mfa, SecondFactor};
use crate::services::routing::Routing;
use crate::services::throttle::LoginThrottle;
use crate::services::voice::Voice;

/// Staff passwords must have at least this many characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Prefix of staff session tokens, so secret scanners can spot a leaked one.
const TOKEN_PREFIX: &str = "sbs_";
/// A session's activity is written back at most this often (or every half idle timeout, when
/// that is shorter).
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// How long the second step of a sign-in may wait for its code.
const CHALLENGE_TTL: Duration = Duration::minutes(5);

/// Hashes a password with argon2id (default, OWASP-recommended parameters).
///
/// # Errors
/// A password shorter than [`MIN_PASSWORD_CHARS`].
pub fn hash_password(password: &str) -> Result<String, Error> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::Validation(schema::ValidationError::Invalid {
            field: "password",
            reason: format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        }));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
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

/// Hex SHA-256 of a secret (session tokens, and single sign-on's cookies and codes are kept by it).
pub(crate) fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", B64.encode(bytes))
}

/// When a session last active at `now` expires: idle timeout, capped by the absolute lifetime.
fn expiry(config: &StaffConfig, created_at: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    let idle = now + Duration::seconds(i64::try_from(config.session_idle_secs).unwrap_or(i64::MAX / 2));
    let max = created_at + Duration::seconds(i64::try_from(config.session_max_secs).unwrap_or(i64::MAX / 2));
    idle.min(max)
}

/// Whether checking a token counts as the staff member being active (pushing back idle expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// A request or a reply: the person did something.
    Active,
    /// A background re-check (an open socket's heartbeat): not activity.
    Check,
}

/// A new session: the token (shown once) and the session as stored.
pub struct SignedIn {
    pub token: String,
    pub session: StaffSession,
    /// The member's role requires two-step sign-in and they have none: the session may only
    /// set it up until they do.
    pub enrolment_required: bool,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("agent_id", &self.session.agent.id)
            .field("enrolment_required", &self.enrolment_required)
            .finish_non_exhaustive()
    }
}

/// What a correct password leads to.
pub enum LoginOutcome {
    /// A session.
    SignedIn(SignedIn),
    /// The member set up two-step sign-in: answer the challenge with a code.
    SecondFactor { challenge: String, expires_at: OffsetDateTime },
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignedIn(s) => s.fmt(f),
            Self::SecondFactor { expires_at, .. } => write!(f, "SecondFactor(until {expires_at})"),
        }
    }
}

/// Staff sign-in and sessions.
#[derive(Debug)]
pub struct Sessions {
    store: Store,
    config: StaffConfig,
    mfa: Arc<Mfa>,
    throttle: LoginThrottle,
    /// Sign-ins, refusals and sign-outs are audited.
    audit: Arc<Audit>,
}

impl Sessions {
    #[must_use]
    pub fn new(store: Store, config: StaffConfig, mfa: Arc<Mfa>, audit: Arc<Audit>) -> Self {
        let throttle = LoginThrottle::new(&config);
        Self { store, config, mfa, throttle, audit }
    }

    /// Two-step sign-in.
    #[must_use]
    pub fn mfa(&self) -> &Mfa {
        &self.mfa
    }

    /// Checks a staff bearer token and, for [`Activity::Active`], records the activity. A member
    /// whose role requires two-step sign-in and who has none set up is refused (403
    /// `mfa_enrolment_required`): see [`Sessions::authenticate_enrolling`].
    ///
    /// # Errors
    /// 401 for a bad token; 403 as above; 503 if the store is down.
    pub async fn authenticate(&self, token: &str, activity: Activity) -> Result<StaffSession, Error> {
        let session = self.authenticate_enrolling(token, activity).await?;
        if self.mfa.enrolment_pending(&session.agent).await? {
            return Err(enrolment_required());
        }
        Ok(session)
    }

    /// Checks a staff bearer token like [`Sessions::authenticate`], but lets a member who must
    /// still set up two-step sign-in through (for the set-up itself, sign-out and `me`).
    ///
    /// # Errors
    /// 401 for a bad token; 503 if the store is down.
    pub async fn authenticate_enrolling(&self, token: &str, activity: Activity) -> Result<StaffSession, Error> {
        let unauthorized = || Error::Unauthorized("sign in again: the session is invalid or has expired".into());
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(unauthorized());
        }
        let digest = digest(token);
        let session = self.store.live_session(&digest).await?.ok_or_else(unauthorized)?;
        if !session.agent.active {
            return Err(unauthorized());
        }
        let now = OffsetDateTime::now_utc();
        let half_idle = Duration::seconds(i64::try_from(self.config.session_idle_secs / 2).unwrap_or(i64::MAX / 2));
        if activity == Activity::Active && now - session.last_seen_at >= TOUCH_EVERY.min(half_idle) {
            self.store.touch_session(&digest, expiry(&self.config, session.created_at, now)).await?;
        }
        Ok(session)
    }

    /// Checks `password` against the member's hash (or a dummy one), throttled.
    async fn password_matches(&self, hash: Option<String>, password: String) -> Result<bool, Error> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        Ok(self.throttle.password_check(move || verify_password(&hash, &password)).await? && known)
    }

    /// A new session for a member who proved who they are by `method` (audited; no session is
    /// handed out unaudited).
    ///
    /// # Errors
    /// The store or the audit trail fails.
    pub async fn start_session(
        &self,
        agent: Agent,
        method: AuthMethod,
        from: Option<IpAddr>,
    ) -> Result<SignedIn, Error> {
        let token = new_token();
        let now = OffsetDateTime::now_utc();
        let session =
            self.store.create_session(&digest(&token), &agent, method, expiry(&self.config, now, now)).await?;
        let event = Event::new(AuditAction::SignIn)
            .target(TargetKind::Agent, agent.id)
            .details(serde_json::json!({ "method": method.as_str() }));
        if let Err(e) = self.audit.record(&Actor::staff(agent.id, from), event).await {
            self.store.revoke_session(&session.token_digest).await?;
            return Err(e);
        }
        self.throttle.succeeded(agent.email.as_str());
        let enrolment_required = self.mfa.enrolment_pending(&agent).await?;
        tracing::info!(agent_id = %agent.id, method = method.as_str(), address = ?from, enrolment_required, "staff signed in");
        Ok(SignedIn { token, session, enrolment_required })
    }

    /// E-mail and password for a session, or for a challenge to answer with a second factor
    /// when the member set one up. Unknown e-mail and wrong password take the same time and give
    /// the same answer. Throttled per account and per client address.
    ///
    /// # Errors
    /// 401 when refused; 429 when throttled; 503 when too many sign-ins run at once or the store
    /// is down.
    pub async fn login(&self, email: &str, password: String, from: Option<IpAddr>) -> Result<LoginOutcome, Error> {
        let refused = || Error::Unauthorized("wrong e-mail or password".into());
        if let Err(e) = self.throttle.check(email, from) {
            let event = Event::new(AuditAction::SignInThrottled).details(serde_json::json!({"email": typed(email)}));
            self.audit.record(&Actor::anonymous(from), event).await?;
            return Err(e);
        }
        let creds = match email.parse::<EmailAddress>() {
            Ok(email) => self.store.agent_credentials(&email).await?,
            Err(_) => None,
        };
        let (agent, hash) = match creds {
            Some((agent, hash)) if agent.active => (Some(agent), Some(hash)),
            _ => (None, None),
        };
        let known = agent.is_some();
        // An unknown account is checked against a dummy hash: the same work, the same answer.
        let matches = self.password_matches(hash, password).await?;
        let agent = match agent {
            Some(agent) if matches => agent,
            _ => {
                self.throttle.failed(email, from);
                tracing::warn!(email_known = known, address = ?from, "sign-in refused: wrong e-mail or password");
                let event = Event::new(AuditAction::SignInFailed).details(serde_json::json!({"email": typed(email)}));
                self.audit.record(&Actor::anonymous(from), event).await?;
                return Err(refused());
            }
        };
        if self.mfa.enrolled(agent.id).await? {
            let (challenge, expires_at) = self.mfa.challenge(agent.id, CHALLENGE_TTL).await?;
            tracing::info!(agent_id = %agent.id, address = ?from, "password accepted: second factor asked");
            return Ok(LoginOutcome::SecondFactor { challenge, expires_at });
        }
        Ok(LoginOutcome::SignedIn(self.start_session(agent, AuthMethod::Password, from).await?))
    }

    /// The second step of a sign-in: the challenge and a TOTP or recovery code, for a session.
    ///
    /// # Errors
    /// 401 for an expired or used challenge or a wrong code; 429 when throttled; 503 if the
    /// store is down.
    pub async fn login_second_factor(
        &self,
        challenge: &str,
        factor: SecondFactor<'_>,
        from: Option<IpAddr>,
    ) -> Result<SignedIn, Error> {
        let (digest, agent_id) = self.mfa.challenge_member(challenge).await?;
        let agent = self.store.agent(agent_id).await?;
        if !agent.active {
            return Err(Error::Unauthorized("the sign-in has expired: enter your password again".into()));
        }
        self.throttle.check(agent.email.as_str(), from)?;
        if let Err(e) = self.mfa.answer_challenge(&digest, agent_id, factor).await {
            self.throttle.failed(agent.email.as_str(), from);
            tracing::warn!(agent_id = %agent_id, address = ?from, "sign-in refused: wrong second factor");
            let event = Event::new(AuditAction::SecondFactorFailed).target(TargetKind::Agent, agent_id);
            self.audit.record(&Actor::anonymous(from), event).await?;
            return Err(e);
        }
        self.start_session(agent, AuthMethod::Password, from).await
    }

    /// Step-up: the member proves who they are again (password, and a code when they set up
    /// two-step sign-in), which refreshes the session's `authenticated_at`.
    ///
    /// # Errors
    /// 401 for a wrong password or code (or a missing code); 429 when throttled.
    pub async fn step_up(
        &self,
        session: &StaffSession,
        password: String,
        factor: Option<SecondFactor<'_>>,
        from: Option<IpAddr>,
    ) -> Result<OffsetDateTime, Error> {
        let agent = &session.agent;
        let email = agent.email.as_str();
        self.throttle.check(email, from)?;
        let hash = self.store.agent_credentials(&agent.email).await?.map(|(_, h)| h);
        let refused = |why: &str| {
            self.throttle.failed(email, from);
            tracing::warn!(agent_id = %agent.id, address = ?from, "step-up refused: {why}");
        };
        let actor = Actor::staff(agent.id, from);
        let failed = Event::new(AuditAction::StepUpFailed).target(TargetKind::Agent, agent.id);
        if !self.password_matches(hash, password).await? {
            refused("wrong password");
            self.audit.record(&actor, failed).await?;
            return Err(Error::Unauthorized("wrong password".into()));
        }
        if self.mfa.enrolled(agent.id).await? {
            let Some(factor) = factor else {
                refused("no second factor");
                self.audit.record(&actor, failed).await?;
                return Err(Error::Unauthorized("enter a code from your authenticator app".into()));
            };
            if let Err(e) = self.mfa.verify(agent.id, factor).await {
                refused("wrong second factor");
                self.audit.record(&actor, failed).await?;
                return Err(e);
            }
        }
        self.audit.record(&actor, Event::new(AuditAction::StepUp).target(TargetKind::Agent, agent.id)).await?;
        let now = OffsetDateTime::now_utc();
        self.store.reauthenticate_session(&session.token_digest, now).await?;
        self.throttle.succeeded(email);
        tracing::info!(agent_id = %agent.id, "staff stepped up");
        Ok(now)
    }

    /// Fails with 401 `step_up_required` unless the session's member proved who they are
    /// within `staff.step_up_secs`.
    ///
    /// # Errors
    /// [`Error::StepUpRequired`].
    pub fn require_fresh_auth(&self, session: &StaffSession) -> Result<(), Error> {
        let max = Duration::seconds(i64::try_from(self.config.step_up_secs).unwrap_or(i64::MAX / 2));
        if OffsetDateTime::now_utc() - session.authenticated_at > max {
            return Err(Error::StepUpRequired(
                "this needs a recent sign-in: confirm your password (POST /api/v1/auth/step-up), then retry".into(),
            ));
        }
        Ok(())
    }

    /// Ends every session of the member ("sign out everywhere"); returns how many ended.
    ///
    /// # Errors
    /// The store fails.
    pub async fn logout_all(&self, session: &StaffSession, actor: &Actor) -> Result<u64, Error> {
        let ended = self.store.revoke_agent_sessions(session.agent.id).await?;
        tracing::info!(agent_id = %session.agent.id, ended, "staff signed out everywhere");
        let event = Event::new(AuditAction::SignOutEverywhere)
            .target(TargetKind::Agent, session.agent.id)
            .details(serde_json::json!({ "sessions_ended": ended }));
        self.audit.record(actor, event).await?;
        Ok(ended)
    }

    /// Ends a session.
    ///
    /// # Errors
    /// The store fails.
    pub async fn logout(&self, session: &StaffSession, actor: &Actor) -> Result<(), Error> {
        self.store.revoke_session(&session.token_digest).await?;
        self.audit.record(actor, Event::new(AuditAction::SignOut).target(TargetKind::Agent, session.agent.id)).await
    }
}

/// Validates a new staff member's fields and hashes the password (off the async threads).
///
/// # Errors
/// A field that does not validate (422 naming it).
pub async fn new_agent(email: &str, name: &str, roles: &[String], password: String) -> Result<NewAgent, Error> {
    let email: EmailAddress = email.parse()?;
    let name: DisplayName = name.parse()?;
    let roles = parse_roles(roles)?;
    let password_hash = hash_off_thread(password).await?;
    Ok(NewAgent { email, name, roles, password_hash })
}

/// Roles by name, sorted, without duplicates; at least one, at most one of each.
///
/// # Errors
/// An unknown role, none, or too many names (422 on `roles`).
pub fn parse_roles(roles: &[String]) -> Result<Vec<Role>, Error> {
    if roles.len() > 16 {
        return Err(Error::Validation(schema::ValidationError::Invalid {
            field: "roles",
            reason: "at most 16 names".into(),
        }));
    }
    let mut parsed = roles
        .iter()
        .map(|r| {
            r.parse::<Role>().map_err(|_| {
                Error::Validation(schema::ValidationError::Invalid {
                    field: "roles",
                    reason: format!("{r:?} is not one of: agent, supervisor, bot_trainer, admin, auditor"),
                })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    if parsed.is_empty() {
        return Err(Error::Validation(schema::ValidationError::Empty { field: "roles" }));
    }
    Ok(parsed)
}

async fn hash_off_thread(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?
}

/// Characters of generated one-time passwords: no look-alikes (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of generated one-time passwords (about 117 bits).
const GENERATED_PASSWORD_CHARS: usize = 20;

fn generate_password() -> String {
    let mut bytes = [0u8; GENERATED_PASSWORD_CHARS];
    OsRng.fill_bytes(&mut bytes);
    // 256 is not a multiple of the alphabet's length: take the bias-free range only.
    let limit = 256 - 256 % PASSWORD_ALPHABET.len();
    let mut out = String::with_capacity(GENERATED_PASSWORD_CHARS);
    while out.len() < GENERATED_PASSWORD_CHARS {
        for &b in &bytes {
            if usize::from(b) < limit && out.len() < GENERATED_PASSWORD_CHARS {
                out.push(char::from(PASSWORD_ALPHABET[usize::from(b) % PASSWORD_ALPHABET.len()]));
            }
        }
        OsRng.fill_bytes(&mut bytes);
    }
    out
}

/// A password reset: the generated one-time password (when the admin did not give one; shown
/// once, never stored or logged) and how many sessions ended.
pub struct PasswordReset {
    pub generated: Option<String>,
    pub sessions_ended: u64,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("generated", &self.generated.as_ref().map(|_| "***"))
            .field("sessions_ended", &self.sessions_ended)
            .finish()
    }
}

/// What admins do to staff accounts. Every change that could leave no active admin is refused
/// (409) by the store, under a lock.
#[derive(Debug)]
pub struct Accounts {
    store: Store,
    routing: Arc<Routing>,
    /// The SIP channel (when enabled), whose softphone credentials follow who is active and an
    /// agent.
    voice: Option<Arc<Voice>>,
}

impl Accounts {
    #[must_use]
    pub fn new(store: Store, routing: Arc<Routing>, voice: Option<Arc<Voice>>) -> Self {
        Self { store, routing, voice }
    }

    /// Re-reads the softphone credentials after a change of who may sign in or take calls.
    async fn reload_voice(&self, id: AgentId) {
        if let Some(voice) = &self.voice
            && let Err(e) = voice.reload().await
        {
            tracing::warn!(error = %e, agent_id = %id, "cannot reload the softphone credentials");
        }
    }

    /// Takes a member out of routing: presence offline, unless it is already.
    async fn set_offline(&self, id: AgentId, why: &str) {
        if self.routing.presence(id).await.is_ok_and(|p| p != Presence::Offline)
            && let Err(e) = self.routing.set_presence(id, Presence::Offline).await
        {
            tracing::warn!(error = %e, agent_id = %id, "cannot set a member offline ({why})");
        }
    }

    /// How many live sessions each member has.
    ///
    /// # Errors
    /// The store fails.
    pub async fn session_counts(&self) -> Result<HashMap<AgentId, u32>, Error> {
        Ok(self.store.live_session_counts().await?)
    }

    /// Every member's current team.
    ///
    /// # Errors
    /// The store fails.
    pub async fn teams(&self) -> Result<HashMap<AgentId, schema::TeamName>, Error> {
        Ok(self.store.current_teams().await?)
    }

    /// Puts a member in `team` (empty or `None`: in no team) from the current 15-minute bucket
    /// on (reports count each bucket for the team the agent was in then); answers the team
    /// before, the member and the team after.
    ///
    /// # Errors
    /// 422 for a bad team name, 404.
    pub async fn set_team(
        &self,
        by: &Agent,
        id: AgentId,
        team: Option<&str>,
    ) -> Result<(Option<schema::TeamName>, Agent, Option<schema::TeamName>), Error> {
        let team = match team.filter(|t| !t.is_empty()) {
            Some(t) => Some(t.parse::<schema::TeamName>().map_err(|_| {
                Error::invalid("team", "a team name: lower-case letters, digits, '-' and '_', at most 50")
            })?),
            None => None,
        };
        let agent = self.store.agent(id).await?;
        let before = self.store.set_agent_team(id, team.as_ref(), crate::services::now_ms()).await?;
        tracing::info!(agent_id = %id, team = ?team, by = %by.id, "staff team changed");
        Ok((before, agent, team))
    }

    /// Replaces a member's roles; answers the roles before and the member after.
    ///
    /// # Errors
    /// 422 for bad roles, 404, 409 when no active admin would be left.
    pub async fn set_roles(&self, by: &Agent, id: AgentId, roles: &[String]) -> Result<(Vec<Role>, Agent), Error> {
        let roles = parse_roles(roles)?;
        let before = self.store.agent(id).await?.roles;
        let agent = self.store.change_account(id, &AccountChange::Roles(roles)).await?;
        if !agent.has_role(Role::Agent) {
            self.set_offline(id, "no longer an agent").await;
        }
        self.reload_voice(id).await;
        tracing::info!(agent_id = %id, roles = ?agent.roles, by = %by.id, "staff roles changed");
        Ok((before, agent))
    }

    /// Disables (every session ends, sign-in is refused, the member goes offline for routing) or
    /// enables a member. Open sockets close with 4401 at their next heartbeat.
    ///
    /// # Errors
    /// 404, 409 when no active admin would be left.
    pub async fn set_active(&self, by: &Agent, id: AgentId, active: bool) -> Result<Agent, Error> {
        let change = if active { AccountChange::Enable } else { AccountChange::Disable };
        let agent = self.store.change_account(id, &change).await?;
        if !active {
            self.set_offline(id, "disabled").await;
        }
        self.reload_voice(id).await;
        tracing::info!(agent_id = %id, active, by = %by.id, "staff member {}", if active { "enabled" } else { "disabled" });
        Ok(agent)
    }

    /// Sets a member's password (`None`: a generated one-time password, returned once); every
    /// session of theirs ends.
    ///
    /// # Errors
    /// 422 for a short password, 404.
    pub async fn reset_password(
        &self,
        by: &Agent,
        id: AgentId,
        password: Option<String>,
    ) -> Result<PasswordReset, Error> {
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => {
                let p = generate_password();
                (p.clone(), true)
            }
        };
        let hash = hash_off_thread(password.clone()).await?;
        let sessions_ended = self.store.set_agent_password(id, &hash).await?;
        tracing::info!(agent_id = %id, generated, sessions_ended, by = %by.id, "staff password reset");
        Ok(PasswordReset { generated: generated.then_some(password), sessions_ended })
    }

    /// Ends every session of a member.
    ///
    /// # Errors
    /// 404.
    pub async fn revoke_sessions(&self, by: &Agent, id: AgentId) -> Result<u64, Error> {
        let ended = self.store.revoke_agent_sessions(id).await?;
        tracing::info!(agent_id = %id, ended, by = %by.id, "staff sessions revoked");
        Ok(ended)
    }
}

/// Creates a staff member unless one with that e-mail exists.
///
/// # Errors
/// A field that does not validate, or the store fails.
pub async fn ensure_staff(store: &Store, email: &str, name: &str, roles: &[Role], password: &str) -> Result<(), Error> {
    let parsed: EmailAddress = email.parse()?;
    if store.agent_credentials(&parsed).await?.is_some() {
        return Ok(());
    }
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let new = new_agent(email, name, &roles, password.to_owned()).await?;
    store.create_agent(new).await?;
    tracing::info!(%email, "staff member created at start");
    Ok(())
}

/// Fails with 403 unless `agent` holds `role`.
///
/// # Errors
/// [`Error::Forbidden`].
pub fn require(agent: &Agent, role: Role) -> Result<&Agent, Error> {
    if agent.has_role(role) { Ok(agent) } else { Err(Error::Forbidden(format!("this needs the {role} role"))) }
}

/// Whether an agent may write on a conversation that nobody holds yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unheld {
    /// Yes: the write claims it (a reply takes an unassigned conversation; a hand-over of a
    /// conversation with the bot).
    Claim,
    /// No: only a supervisor acts on a ticket nobody holds (resolve, transfer, notes, tags).
    Refuse,
}

/// The assignee-or-supervisor rule, the one check of every staff write on a conversation or its
/// ticket (replies over REST and the inbox socket, WhatsApp templates, hand-over, notes, tags,
/// resolve, pending, transfer): a supervisor, and so an admin, may act on any; an agent on what
/// is assigned to them, and on what nobody holds only when `unheld` is [`Unheld::Claim`].
///
/// # Errors
/// [`Error::Forbidden`].
pub fn may_act_on(agent: &Agent, assignee: Option<AgentId>, unheld: Unheld) -> Result<(), Error> {
    let allowed = agent.has_role(Role::Supervisor)
        || match assignee {
            Some(holder) => holder == agent.id,
            None => unheld == Unheld::Claim,
        };
    if allowed { Ok(()) } else { Err(Error::Forbidden("only the assignee or a supervisor can do this".into())) }
}

/// The refusal of a session whose member must still set up two-step sign-in (403
/// `mfa_enrolment_required`), wherever a session is checked.
#[must_use]
pub fn enrolment_required() -> Error {
    Error::MfaEnrolmentRequired(
        "your role requires two-step sign-in: set it up first (POST /api/v1/auth/mfa/totp)".into(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn staff(roles: &[Role]) -> Agent {
        Agent {
            id: AgentId::new(),
            email: "x@example.com".parse().unwrap(),
            name: "X".parse().unwrap(),
            roles: roles.to_vec(),
            active: true,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn only_the_assignee_or_a_supervisor_acts_on_held_work() {
        let ana = staff(&[Role::Agent]);
        let dora = staff(&[Role::Agent]);
        let bruno = staff(&[Role::Agent, Role::Supervisor]);
        let admin = staff(&[Role::Admin]);
        for unheld in [Unheld::Claim, Unheld::Refuse] {
            assert!(may_act_on(&ana, Some(ana.id), unheld).is_ok());
            assert!(matches!(may_act_on(&dora, Some(ana.id), unheld), Err(Error::Forbidden(_))));
            assert!(may_act_on(&bruno, Some(ana.id), unheld).is_ok());
            assert!(may_act_on(&admin, Some(ana.id), unheld).is_ok());
            assert!(may_act_on(&bruno, None, unheld).is_ok());
        }
        assert!(may_act_on(&dora, None, Unheld::Claim).is_ok());
        assert!(may_act_on(&dora, None, Unheld::Refuse).is_err());
    }

    #[test]
    fn generated_passwords_are_long_enough_and_from_the_alphabet() {
        let a = generate_password();
        assert_eq!(a.chars().count(), GENERATED_PASSWORD_CHARS);
        assert!(a.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
        assert_ne!(a, generate_password());
        assert!(hash_password(&a).is_ok());
    }

    #[test]
    fn roles_are_parsed_sorted_and_bounded() {
        let roles = parse_roles(&["supervisor".into(), "agent".into(), "agent".into()]).unwrap();
        assert_eq!(roles, vec![Role::Agent, Role::Supervisor]);
        assert!(parse_roles(&[]).is_err());
        assert!(parse_roles(&["root".into()]).is_err());
        assert!(parse_roles(&vec!["agent".to_owned(); 17]).is_err());
    }
}
