//! Single sign-on over HTTP: which sign-in methods the hub offers, the start (to the provider)
//! and callback (from it) of the OpenID Connect flow, and the exchange of the one-time code the
//! callback leaves in the page's URL fragment for a session token (never in a URL the server
//! sees).
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::http::header;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::{Error, ErrorCode};
use crate::http::auth::{LoginResponse, Staff};
use crate::http::views::ErrorBody;
use crate::services::sso::{BROWSER_COOKIE, CallbackParams, Finished, Sso};

/// Single sign-on routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(methods).service(start).service(callback).service(exchange);
}

/// The sign-in methods the hub offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthMethods {
    /// Whether the e-mail and password form works (`false`: only break-glass admins may use it).
    password: bool,
    /// Single sign-on, when configured.
    sso: Option<SsoMethod>,
}

/// Single sign-on as the sign-in page offers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoMethod {
    /// The provider's name ("Sign in with …").
    provider_name: String,
    /// Where the sign-in button goes.
    start_url: String,
}

/// How staff can sign in here (public).
#[utoipa::path(tag = "staff", responses((status = 200, body = AuthMethods)))]
#[get("/auth/methods")]
pub async fn methods(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-cache")).json(AuthMethods {
        password: state.password_policy.local_passwords(),
        sso: state.sso.as_ref().map(|sso| SsoMethod {
            provider_name: sso.provider_name().to_owned(),
            start_url: "/api/v1/auth/sso/start".into(),
        }),
    })
}

/// Where a sign-in through the provider starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// `login` (the default) or `step_up` (with the caller's bearer token: a fresh sign-in at the
    /// provider for the current session).
    purpose: Option<String>,
    /// The staff page to come back to (`/`, `/admin`, …; default `/`).
    return_to: Option<String>,
}

/// The URL of the provider for a step-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepUpStart {
    /// Send the browser there.
    url: String,
}

fn enabled(state: &AppState) -> Result<&Sso, Error> {
    state.sso.as_ref().ok_or_else(|| Error::BadRequest {
        code: ErrorCode::SsoDisabled,
        message: "single sign-on is not configured on this hub".into(),
    })
}

/// The browser's single sign-on cookie, if it sent one.
fn browser_cookie(req: &HttpRequest) -> Option<String> {
    req.headers().get_all(header::COOKIE).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == BROWSER_COOKIE).then(|| value.to_owned())
    })
}

/// Sends the browser to the provider. `purpose=login`: `303` to the provider's sign-in page.
/// `purpose=step_up` (bearer token required, since a navigation cannot carry it): `200` with the
/// provider's URL, which asks for a fresh sign-in (`prompt=login`, `max_age=0`); coming back
/// refreshes this session's sign-in time. Either sets the `sb_sso` cookie that binds the sign-in
/// to this browser.
#[utoipa::path(
    tag = "staff",
    params(StartQuery),
    responses(
        (status = 200, description = "step-up: go to `url`", body = StepUpStart),
        (status = 303, description = "login: to the provider"),
        (status = 401, description = "a step-up without a valid session", body = ErrorBody),
        (status = 404, description = "`sso_disabled`", body = ErrorBody),
        (status = 422, description = "bad `purpose` or `return_to`", body = ErrorBody),
        (status = 429, description = "too many sign-ins under way", body = ErrorBody),
        (status = 503, description = "the provider does not answer", body = ErrorBody)
    )
)]
#[get("/auth/sso/start")]
pub async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: Query<StartQuery>,
    staff: Option<Staff>,
) -> Result<HttpResponse, Error> {
    let sso = enabled(&state)?;
    let StartQuery { purpose, return_to } = params.into_inner();
    let step_up = match purpose.as_deref() {
        None | Some("login") => false,
        Some("step_up") => true,
        Some(_) => return Err(Error::invalid("purpose", "must be login or step_up")),
    };
    let session = match (step_up, &staff) {
        (true, Some(staff)) => Some(&staff.0),
        (true, None) => return Err(Error::Unauthorized("a step-up needs the session's bearer token".into())),
        (false, _) => None,
    };
    let started = sso.start(session, return_to.as_deref(), browser_cookie(&req).as_deref()).await?;
    let cookie = format!(
        "{BROWSER_COOKIE}={}; Path=/api/v1/auth/sso; Max-Age={}; HttpOnly; SameSite=Lax{}",
        started.browser_cookie,
        sso.cookie_max_age(),
        if sso.secure_cookie() { "; Secure" } else { "" }
    );
    let mut response = if step_up { HttpResponse::Ok() } else { HttpResponse::SeeOther() };
    response.insert_header((header::SET_COOKIE, cookie)).insert_header((header::CACHE_CONTROL, "no-store"));
    if step_up {
        Ok(response.json(StepUpStart { url: started.url }))
    } else {
        Ok(response.insert_header((header::LOCATION, started.url)).finish())
    }
}

/// What the provider sends back.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    /// The provider's error (`access_denied`, …).
    error: Option<String>,
}

/// Where the provider sends the browser back. Always `303` to the staff page the sign-in started
/// from, with in the URL fragment (which the server never sees again) `sso_code=…` (a one-time
/// code for `POST /api/v1/auth/sso/exchange`, 60 seconds), `sso_step_up=done`, or
/// `sso_error=…` (`invalid_state`, `provider_error`, `failed`, `no_role`, `no_email`,
/// `disabled`, `not_provisioned`, `email_taken`, `last_admin`, `wrong_account`, `not_fresh`).
#[utoipa::path(
    tag = "staff",
    params(CallbackQuery),
    responses(
        (status = 303, description = "to the staff page, with the outcome in the fragment"),
        (status = 404, description = "`sso_disabled`", body = ErrorBody)
    )
)]
#[get("/auth/sso/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: Query<CallbackQuery>,
) -> Result<HttpResponse, Error> {
    let sso = enabled(&state)?;
    let CallbackQuery { state: sso_state, code, error } = params.into_inner();
    let params = CallbackParams { state: sso_state, code, error };
    let location = match sso.callback(params, browser_cookie(&req).as_deref()).await {
        Ok(Finished::SignedIn { code, return_to }) => format!("{return_to}#sso_code={code}"),
        Ok(Finished::SteppedUp { return_to }) => format!("{return_to}#sso_step_up=done"),
        Err(refused) => format!("{}#sso_error={}", refused.return_to, refused.refusal.as_str()),
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

/// The one-time code of a finished single sign-on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    code: String,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest").finish_non_exhaustive()
    }
}

/// The page exchanges the callback's one-time code (from the same browser, within 60 seconds,
/// once) for a session token, as `POST /api/v1/auth/login` answers.
#[utoipa::path(
    tag = "staff",
    request_body = ExchangeRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "unknown, used, expired or foreign code", body = ErrorBody),
        (status = 404, description = "`sso_disabled`", body = ErrorBody)
    )
)]
#[post("/auth/sso/exchange")]
pub async fn exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ExchangeRequest>,
) -> Result<HttpResponse, Error> {
    let sso = enabled(&state)?;
    let signed_in = sso.exchange(&state.sessions, &body.code, browser_cookie(&req).as_deref()).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(LoginResponse::from(signed_in)))
}
