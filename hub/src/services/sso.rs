//! Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE, state
//! and nonce (kept in the store, bound to the browser by a cookie), the ID token verified
//! (signature, issuer, audience, expiry, nonce, access-token hash), roles mapped from a configured
//! claim, staff found by issuer and subject (or created), the finished sign-in handed to the page
//! by a one-time code, and step-up (a fresh sign-in at the provider refreshing a session's
//! `authenticated_at`). Also the password policy that single sign-on brings (`local_passwords`,
//! break-glass admins).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration as StdDuration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, SubjectIdentifier, TokenResponse as _,
};
use schema::{
    Agent, AuthMethod, DisplayName, EmailAddress, Role, SsoHandoff, SsoLogin, SsoProfile, SsoPurpose, StaffSession,
    Store, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;

use crate::config::SsoConfig;
use crate::error::{Error, ErrorCode};
use crate::services::audit::Actor;
use crate::services::staff::{Accounts, LoginOutcome, Sessions, SignedIn, digest, parse_roles};

/// Where the provider sends people back, under the hub's public URL.
pub const CALLBACK_PATH: &str = "/api/v1/auth/sso/callback";
/// The cookie that binds a sign-in to the browser that started it.
pub const BROWSER_COOKIE: &str = "sb_sso";
/// How long the page has to take a finished sign-in.
const HANDOFF_TTL: Duration = Duration::seconds(60);
/// Provider metadata and keys are read again after this long.
const METADATA_TTL: StdDuration = StdDuration::from_secs(600);
/// A step-up's sign-in at the provider may be this much older than the step-up's start (clocks).
const CLOCK_SKEW: Duration = Duration::seconds(60);

/// Every claim of an ID token or user-info answer beyond the standard ones, so that the role
/// claim can be any name or path.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct Extra {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for Extra {}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        Extra,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type OidcClient = Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in through the provider was refused: a stable code the sign-in page translates
/// (it arrives as `#sso_error=CODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired, reused or tampered state, or another browser's.
    InvalidState,
    /// The provider answered with an error (the person cancelled, for instance).
    ProviderError,
    /// The provider's answer did not verify, or the provider could not be reached.
    Failed,
    /// No value of the role claim maps to a Switchboard role.
    NoRole,
    /// The provider gave no e-mail address.
    NoEmail,
    /// The account is disabled.
    Disabled,
    /// Unknown here, and `provision` is off.
    NotProvisioned,
    /// Another staff member has this e-mail address (and the provider does not vouch for it).
    EmailTaken,
    /// The new roles would leave no active admin.
    LastAdmin,
    /// A step-up signed in as someone else than the session's member.
    WrongAccount,
    /// A step-up whose sign-in at the provider was not fresh.
    NotFresh,
}

impl Refusal {
    /// The code in the page's URL fragment.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidState => "invalid_state",
            Self::ProviderError => "provider_error",
            Self::Failed => "failed",
            Self::NoRole => "no_role",
            Self::NoEmail => "no_email",
            Self::Disabled => "disabled",
            Self::NotProvisioned => "not_provisioned",
            Self::EmailTaken => "email_taken",
            Self::LastAdmin => "last_admin",
            Self::WrongAccount => "wrong_account",
            Self::NotFresh => "not_fresh",
        }
    }
}

/// A refused sign-in: why, and the page to go back to.
#[derive(Debug)]
pub struct Refused {
    pub refusal: Refusal,
    pub return_to: String,
}

/// A sign-in sent to the provider: where to send the browser, and the cookie that binds it.
pub struct Started {
    pub url: String,
    pub browser_cookie: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").finish_non_exhaustive()
    }
}

/// A sign-in back from the provider, verified.
pub enum Finished {
    /// A new session waits for the page: it takes it with `code` (once, within 60 s).
    SignedIn { code: String, return_to: String },
    /// The session's sign-in time is now.
    SteppedUp { return_to: String },
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignedIn { return_to, .. } => f.debug_struct("SignedIn").field("return_to", return_to).finish(),
            Self::SteppedUp { return_to } => f.debug_struct("SteppedUp").field("return_to", return_to).finish(),
        }
    }
}

/// Who the provider says signed in, verified.
#[derive(Debug)]
struct Verified {
    profile: SsoProfile,
    /// When they signed in at the provider (`auth_time`; the epoch when the provider omits it).
    authenticated_at: OffsetDateTime,
    /// Whether the provider vouches for the e-mail address (`email_verified`).
    email_verified: bool,
}

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

/// The password policy single sign-on brings: whether staff may sign in with a password.
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    local_passwords: bool,
    break_glass: Vec<EmailAddress>,
}

impl PasswordPolicy {
    /// Whether everyone may sign in with a password.
    #[must_use]
    pub const fn local_passwords(&self) -> bool {
        self.local_passwords
    }

    /// Password sign-in, unless local passwords are off (then only for break-glass admins).
    ///
    /// # Errors
    /// 403 `local_passwords_disabled`; what [`Sessions::login`] fails with.
    pub async fn login(
        &self,
        sessions: &Sessions,
        email: &str,
        password: String,
        from: Option<IpAddr>,
    ) -> Result<LoginOutcome, Error> {
        if !self.local_passwords && !email.parse::<EmailAddress>().is_ok_and(|e| self.break_glass.contains(&e)) {
            return Err(Self::disabled());
        }
        match sessions.login(email, password, from).await? {
            LoginOutcome::SignedIn(signed_in) => {
                Ok(LoginOutcome::SignedIn(self.admit(sessions, signed_in, from).await?))
            }
            asked @ LoginOutcome::SecondFactor { .. } => Ok(asked),
        }
    }

    /// A password session (after the second factor, if any), checked against the policy: with
    /// local passwords off, only a break-glass address holding the admin role keeps it.
    ///
    /// # Errors
    /// 403 `local_passwords_disabled` (the session is ended); the store fails.
    pub async fn admit(
        &self,
        sessions: &Sessions,
        signed_in: SignedIn,
        from: Option<IpAddr>,
    ) -> Result<SignedIn, Error> {
        if self.local_passwords {
            return Ok(signed_in);
        }
        let agent = &signed_in.session.agent;
        if !self.break_glass.contains(&agent.email) || !agent.has_role(Role::Admin) {
            sessions.logout(&signed_in.session, &Actor::staff(agent.id, from)).await?;
            return Err(Self::disabled());
        }
        tracing::warn!(agent_id = %agent.id, "break-glass password sign-in");
        Ok(signed_in)
    }

    fn disabled() -> Error {
        Error::BadRequest {
            code: ErrorCode::LocalPasswordsDisabled,
            message: "password sign-in is off on this hub: sign in with single sign-on".into(),
        }
    }
}

/// Single sign-on, when `[sso]` is enabled.
#[derive(Debug)]
pub struct Sso {
    store: Store,
    accounts: Accounts,
    http: reqwest::Client,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    secure_cookie: bool,
    provider_name: String,
    scopes: Vec<String>,
    role_claim: Vec<String>,
    roles: BTreeMap<String, Vec<Role>>,
    provision: bool,
    login_ttl: Duration,
    max_pending: u32,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// The `[sso]` section does not hold together.
#[derive(Debug, thiserror::Error)]
#[error("[sso] {0}")]
pub struct SsoConfigError(String);

/// Whether a URL's host is this machine (where plain HTTP is acceptable, for tests).
fn loopback(url: &reqwest::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// The password policy of a configuration.
///
/// # Errors
/// A break-glass entry that is not an e-mail address.
pub fn password_policy(config: &SsoConfig) -> Result<PasswordPolicy, SsoConfigError> {
    let break_glass = config
        .break_glass
        .iter()
        .map(|e| {
            e.parse::<EmailAddress>()
                .map_err(|_| SsoConfigError(format!("break_glass: {e:?} is not an e-mail address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PasswordPolicy { local_passwords: config.local_passwords || !config.enabled, break_glass })
}

impl Sso {
    /// Checks `[sso]` and builds the service (the provider is not contacted until the first
    /// sign-in: its metadata and keys are read then, and again every 10 minutes).
    ///
    /// # Errors
    /// A missing or malformed setting, or an unreadable `client_secret_file`.
    pub fn new(store: Store, accounts: Accounts, config: &SsoConfig) -> Result<Self, SsoConfigError> {
        let bad = |m: String| SsoConfigError(m);
        let issuer_url = reqwest::Url::parse(&config.issuer).map_err(|e| bad(format!("issuer: {e}")))?;
        let public = reqwest::Url::parse(&config.public_url).map_err(|e| bad(format!("public_url: {e}")))?;
        for (name, url) in [("issuer", &issuer_url), ("public_url", &public)] {
            if url.scheme() != "https" && !(url.scheme() == "http" && loopback(url)) {
                return Err(bad(format!("{name} must be an https URL (plain http only on localhost)")));
            }
        }
        if config.client_id.is_empty() {
            return Err(bad("client_id is required".into()));
        }
        let secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| bad(format!("client_secret_file {file}: {e}")))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let mut roles = BTreeMap::new();
        for (value, names) in &config.roles {
            let parsed = parse_roles(names).map_err(|e| bad(format!("roles.{value}: {e}")))?;
            roles.insert(value.clone(), parsed);
        }
        if roles.is_empty() {
            return Err(bad("roles must map at least one claim value to Switchboard roles".into()));
        }
        if config.role_claim.is_empty() {
            return Err(bad("role_claim is required".into()));
        }
        let redirect = format!("{}{CALLBACK_PATH}", config.public_url.trim_end_matches('/'));
        Ok(Self {
            store,
            accounts,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(StdDuration::from_secs(10))
                .build()
                .map_err(|e| bad(format!("HTTP client: {e}")))?,
            issuer: IssuerUrl::new(config.issuer.clone()).map_err(|e| bad(format!("issuer: {e}")))?,
            client_id: ClientId::new(config.client_id.clone()),
            client_secret: secret.map(ClientSecret::new),
            redirect: RedirectUrl::new(redirect).map_err(|e| bad(format!("public_url: {e}")))?,
            secure_cookie: public.scheme() == "https",
            provider_name: config.provider_name.clone(),
            scopes: config.scopes.clone(),
            role_claim: config.role_claim.split('.').map(str::to_owned).collect(),
            roles,
            provision: config.provision,
            login_ttl: Duration::seconds(i64::try_from(config.login_timeout_secs).unwrap_or(600).clamp(30, 3600)),
            max_pending: config.max_pending_logins.max(1),
            metadata: Mutex::new(None),
        })
    }

    /// The name the sign-in page shows.
    #[must_use]
    pub fn provider_name(&self) -> &str {
        &self.provider_name
    }

    /// Whether the browser cookie must be `Secure` (the hub is reached over https).
    #[must_use]
    pub const fn secure_cookie(&self) -> bool {
        self.secure_cookie
    }

    /// How long the browser cookie lives.
    #[must_use]
    pub fn cookie_max_age(&self) -> i64 {
        self.login_ttl.whole_seconds()
    }

    /// The provider's metadata and keys, read again when older than 10 minutes.
    async fn provider(&self) -> Result<CoreProviderMetadata, Error> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http).await.map_err(|e| {
            tracing::warn!(error = %e, issuer = %self.issuer.as_str(), "cannot read the SSO provider's metadata");
            Error::Unavailable("the single sign-on provider does not answer; retry shortly".into())
        })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// Sends a browser to the provider: a new sign-in, or (with the caller's `session`) a
    /// step-up, which asks the provider for a fresh sign-in (`prompt=login`, `max_age=0`).
    /// `browser` is the browser's cookie, kept if it has one.
    ///
    /// # Errors
    /// 422 for a bad `return_to`, 429 when too many sign-ins are under way, 503 when the provider
    /// does not answer.
    pub async fn start(
        &self,
        session: Option<&StaffSession>,
        return_to: Option<&str>,
        browser: Option<&str>,
    ) -> Result<Started, Error> {
        let return_to = return_path(return_to)?;
        let metadata = self.provider().await?;
        let client = OidcClient::from_provider_metadata(metadata, self.client_id.clone(), self.client_secret.clone())
            .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        if session.is_some() {
            request = request.add_prompt(CoreAuthPrompt::Login).set_max_age(StdDuration::ZERO);
        }
        let (url, state, nonce) = request.url();
        let browser_cookie = match browser {
            Some(b) if b.len() == 43 && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') => {
                b.to_owned()
            }
            _ => random_secret(),
        };
        let now = OffsetDateTime::now_utc();
        let login = SsoLogin {
            state: state.secret().clone(),
            browser_digest: digest(&browser_cookie),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            purpose: if session.is_some() { SsoPurpose::StepUp } else { SsoPurpose::Login },
            session_digest: session.map(|s| s.token_digest.clone()),
            return_to,
            created_at: now,
            expires_at: now + self.login_ttl,
        };
        if !self.store.begin_sso_login(&login, self.max_pending).await? {
            return Err(Error::TooManyRequests("too many single sign-ons under way; retry shortly".into()));
        }
        Ok(Started { url: url.to_string(), browser_cookie })
    }

    /// The provider sent the browser back: checks the state against the browser, exchanges the
    /// code (with the PKCE verifier), verifies the ID token, maps the roles, finds or creates the
    /// staff member, and either leaves a one-time code for the page or refreshes the step-up's
    /// session.
    ///
    /// # Errors
    /// [`Refused`], with why and where to send the browser.
    pub async fn callback(&self, params: CallbackParams, browser: Option<&str>) -> Result<Finished, Refused> {
        let login = match &params.state {
            Some(state) if state.len() <= 256 => self.store.take_sso_login(state).await.ok().flatten(),
            _ => None,
        };
        let Some(login) = login.filter(|l| browser.is_some_and(|b| digest(b) == l.browser_digest)) else {
            tracing::info!("single sign-on refused: unknown, expired or foreign state");
            return Err(Refused { refusal: Refusal::InvalidState, return_to: "/".into() });
        };
        let return_to = login.return_to.clone();
        let refuse = |refusal: Refusal| {
            tracing::info!(reason = refusal.as_str(), "single sign-on refused");
            Refused { refusal, return_to: return_to.clone() }
        };
        if let Some(error) = &params.error {
            tracing::info!(provider_error = %error.chars().take(64).collect::<String>(), "the SSO provider refused");
            return Err(refuse(Refusal::ProviderError));
        }
        let Some(code) = params.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
            return Err(refuse(Refusal::ProviderError));
        };
        let verified = self.verify(&login, code).await.map_err(refuse)?;
        let authenticated_at = verified.authenticated_at;
        match login.purpose {
            SsoPurpose::Login => {
                let agent = self.staff_member(&verified).await.map_err(refuse)?;
                let code = random_secret();
                let handoff =
                    SsoHandoff { agent_id: agent.id, browser_digest: login.browser_digest.clone(), authenticated_at };
                let expires = OffsetDateTime::now_utc() + HANDOFF_TTL;
                if let Err(e) = self.store.create_sso_handoff(&digest(&code), &handoff, expires).await {
                    tracing::warn!(error = %e, "cannot keep a single sign-on handoff");
                    return Err(refuse(Refusal::Failed));
                }
                tracing::info!(agent_id = %agent.id, "single sign-on: signed in at the provider");
                Ok(Finished::SignedIn { code, return_to })
            }
            SsoPurpose::StepUp => {
                let session_digest = login.session_digest.as_deref().unwrap_or_default();
                let session = self.store.live_session(session_digest).await.ok().flatten();
                let Some(session) = session else { return Err(refuse(Refusal::InvalidState)) };
                // Only the person already linked to the session's member steps it up; nobody is
                // created or linked here.
                let profile = &verified.profile;
                let linked = self.store.sso_identity(&profile.issuer, &profile.subject).await.ok().flatten();
                if linked.is_none_or(|a| a.id != session.agent.id) {
                    return Err(refuse(Refusal::WrongAccount));
                }
                let agent = session.agent;
                if authenticated_at < login.created_at - CLOCK_SKEW {
                    return Err(refuse(Refusal::NotFresh));
                }
                if let Err(e) = self.store.reauthenticate_session(session_digest, OffsetDateTime::now_utc()).await {
                    tracing::warn!(error = %e, "cannot refresh a session after a step-up");
                    return Err(refuse(Refusal::InvalidState));
                }
                tracing::info!(agent_id = %agent.id, "single sign-on step-up");
                Ok(Finished::SteppedUp { return_to })
            }
        }
    }

    /// Exchanges the code at the provider and verifies what comes back.
    async fn verify(&self, login: &SsoLogin, code: String) -> Result<Verified, Refusal> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, "single sign-on: {what}");
            Refusal::Failed
        };
        let metadata = self.provider().await.map_err(|e| failed("no provider metadata", &e))?;
        let client = OidcClient::from_provider_metadata(metadata, self.client_id.clone(), self.client_secret.clone())
            .set_redirect_uri(self.redirect.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| failed("no token endpoint", &e))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| failed("the code exchange failed", &e))?;
        let id_token = tokens.id_token().ok_or_else(|| failed("no ID token", &"missing"))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(login.nonce.clone()))
            .map_err(|e| failed("the ID token does not verify", &e))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| failed("ID token algorithm", &e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| failed("ID token key", &e))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| failed("access token hash", &e))?;
            if actual != *expected {
                return Err(failed("the access token hash does not match", &"at_hash"));
            }
        }
        let authenticated_at = claims
            .auth_time()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.timestamp()).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let subject = claims.subject().clone();
        let mut email_verified = claims.email_verified();
        let mut email = claims.email().map(|e| e.as_str().to_owned());
        let mut name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
        let mut role_values = self.role_values(&claims.additional_claims().claims);
        if (email.is_none() || role_values.is_none())
            && let Ok(request) = client
                .user_info(tokens.access_token().clone(), Some(SubjectIdentifier::new(subject.as_str().to_owned())))
        {
            let info: openidconnect::UserInfoClaims<Extra, CoreGenderClaim> =
                request.request_async(&self.http).await.map_err(|e| failed("the user-info request failed", &e))?;
            if email.is_none() {
                email = info.email().map(|e| e.as_str().to_owned());
                email_verified = info.email_verified();
            }
            name = name.or_else(|| info.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()));
            role_values = role_values.or_else(|| self.role_values(&info.additional_claims().claims));
        }
        let email: EmailAddress = email.and_then(|e| e.parse().ok()).ok_or(Refusal::NoEmail)?;
        let name: DisplayName = name
            .and_then(|n| n.parse().ok())
            .or_else(|| email.as_str().split('@').next().and_then(|local| local.parse().ok()))
            .ok_or(Refusal::NoEmail)?;
        let mut roles: Vec<Role> =
            role_values.unwrap_or_default().iter().filter_map(|v| self.roles.get(v)).flatten().copied().collect();
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(Refusal::NoRole);
        }
        let profile = SsoProfile {
            issuer: self.issuer.as_str().to_owned(),
            subject: subject.as_str().to_owned(),
            email,
            name,
            roles,
        };
        Ok(Verified { profile, authenticated_at, email_verified: email_verified == Some(true) })
    }

    /// The values of the role claim (a string or a list of strings, at a dotted path), if the
    /// claims have it.
    fn role_values(&self, claims: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
        let (first, rest) = self.role_claim.split_first()?;
        let mut value = claims.get(first)?;
        for key in rest {
            value = value.get(key)?;
        }
        match value {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => Some(items.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
            _ => None,
        }
    }

    /// The staff member the provider's subject is: linked before, or a member with the same
    /// e-mail address the provider vouches for (then linked), or a new one (`provision`); their
    /// e-mail address, name and roles made what the provider says.
    async fn staff_member(&self, verified: &Verified) -> Result<Agent, Refusal> {
        let profile = &verified.profile;
        let store_failed = |e: StoreError| {
            tracing::warn!(error = %e, "single sign-on: the store failed");
            Refusal::Failed
        };
        let agent = match self.store.sso_identity(&profile.issuer, &profile.subject).await.map_err(store_failed)? {
            Some(agent) => agent,
            None => match self.store.agent_credentials(&profile.email).await.map_err(store_failed)? {
                Some((agent, _)) if verified.email_verified => {
                    self.store
                        .link_sso_identity(&profile.issuer, &profile.subject, agent.id)
                        .await
                        .map_err(store_failed)?;
                    tracing::info!(agent_id = %agent.id, "staff member linked to single sign-on by verified e-mail");
                    agent
                }
                Some(_) => return Err(Refusal::EmailTaken),
                None if !self.provision => return Err(Refusal::NotProvisioned),
                None => {
                    let agent = self.store.create_sso_agent(profile).await.map_err(|e| match e {
                        StoreError::Conflict(_) => Refusal::EmailTaken,
                        other => store_failed(other),
                    })?;
                    tracing::info!(agent_id = %agent.id, "staff member created by single sign-on");
                    return Ok(agent);
                }
            },
        };
        if !agent.active {
            return Err(Refusal::Disabled);
        }
        self.store.sync_sso_agent(agent.id, profile).await.map_err(|e| match e {
            StoreError::Conflict(_) => Refusal::EmailTaken,
            other => store_failed(other),
        })?;
        if agent.roles == profile.roles {
            return Ok(Agent { email: profile.email.clone(), name: profile.name.clone(), ..agent });
        }
        let names: Vec<String> = profile.roles.iter().map(|r| r.as_str().to_owned()).collect();
        self.accounts.set_roles(&agent, agent.id, &names).await.map(|(_, agent)| agent).map_err(|e| match e {
            Error::Conflict(_) => Refusal::LastAdmin,
            other => {
                tracing::warn!(error = %other, "single sign-on: cannot update roles");
                Refusal::Failed
            }
        })
    }

    /// The page takes a finished sign-in: the one-time code (from the same browser) for a new
    /// session (`authenticated_at` now).
    ///
    /// # Errors
    /// 401 for an unknown, used, expired or foreign code, or a disabled member.
    pub async fn exchange(&self, sessions: &Sessions, code: &str, browser: Option<&str>) -> Result<SignedIn, Error> {
        let refused = || Error::Unauthorized("the sign-in code is invalid, used or expired: sign in again".into());
        if code.is_empty() || code.len() > 128 {
            return Err(refused());
        }
        let handoff = self.store.take_sso_handoff(&digest(code)).await?.ok_or_else(refused)?;
        if browser.is_none_or(|b| digest(b) != handoff.browser_digest) {
            tracing::info!("single sign-on code presented by another browser");
            return Err(refused());
        }
        let agent = self.store.agent(handoff.agent_id).await?;
        if !agent.active {
            return Err(refused());
        }
        sessions.start_session(agent, AuthMethod::Sso, None).await
    }
}

/// A random, URL-safe secret of 256 bits (43 characters).
fn random_secret() -> String {
    CsrfToken::new_random_len(32).secret().clone()
}

/// The staff page to come back to: one of the hub's own top-level pages (never another site).
fn return_path(return_to: Option<&str>) -> Result<String, Error> {
    match return_to {
        None | Some("") => Ok("/".into()),
        Some(p)
            if p.len() <= 32 && p.starts_with('/') && p[1..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-') =>
        {
            Ok(p.to_owned())
        }
        Some(_) => Err(Error::invalid("return_to", "must be a page of this hub, such as /admin")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_the_hub() {
        assert_eq!(return_path(None).ok().as_deref(), Some("/"));
        assert_eq!(return_path(Some("/admin")).ok().as_deref(), Some("/admin"));
        for bad in ["//evil.example", "https://evil.example", "/admin?x=1", "/a/b", "admin", "/\\evil"] {
            assert!(return_path(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusal_codes_are_distinct() {
        let all = [
            Refusal::InvalidState,
            Refusal::ProviderError,
            Refusal::Failed,
            Refusal::NoRole,
            Refusal::NoEmail,
            Refusal::Disabled,
            Refusal::NotProvisioned,
            Refusal::EmailTaken,
            Refusal::LastAdmin,
            Refusal::WrongAccount,
            Refusal::NotFresh,
        ];
        let mut codes: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
