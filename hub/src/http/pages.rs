//! The hub's own web pages, built from `hub/web` and embedded in the binary: the agent
//! workspace at `/`, the consoles at `/supervisor`, `/trainer`, `/admin` and `/auditor`, the customer chat
//! at `/chat` and `/widget.js`, and the small public
//! configuration documents they read. Every page carries its security headers here.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use schema::DocumentId;

use crate::{AppState, DEMO_PASSWORD, DEMO_STAFF};

mod help;
pub mod survey;

/// One built front-end file (see `hub/build.rs`).
struct Asset {
    /// Its path under `hub/web/dist`.
    path: &'static str,
    body: &'static [u8],
    /// The gzip of `body`, when the build made one.
    gzip: Option<&'static [u8]>,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

pub use crate::config::WidgetSettings;

/// `#rrggbb`, or `None`: colours go into CSS, so nothing else is passed on.
fn colour(value: &str) -> Option<&str> {
    let hex = value.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(value)
}

/// Every page route, at the root.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(workspace)
        .service(console)
        .service(chat)
        .service(widget)
        .service(asset)
        .service(web_config)
        .service(help_stylesheet)
        .service(help_article);
}

/// The widget's settings, under `/api/v1`.
pub fn api_routes(cfg: &mut ServiceConfig) {
    cfg.service(widget_config);
}

fn find(path: &str) -> Option<(&'static [u8], Option<&'static [u8]>)> {
    embedded::ASSETS.iter().find(|a| a.path == path).map(|a| (a.body, a.gzip))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// The Content-Security-Policy of the hub's pages: no inline or foreign script, nothing from
/// another origin; `frame_ancestors` says who may frame the page.
fn csp(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// Serves one embedded file with its headers, gzipped when the client accepts it.
fn serve(req: &HttpRequest, path: &str, cache: &str, frame_ancestors: Option<&str>) -> HttpResponse {
    let Some((body, gzip)) = find(path) else {
        if embedded::ASSETS.is_empty() {
            return HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("The web front-end was not built into this binary: run `npm ci && npm run build` in hub/web, then build the hub again.\n");
        }
        return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found\n");
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type(path))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header((header::VARY, "Accept-Encoding"));
    if let Some(ancestors) = frame_ancestors {
        response.insert_header((header::CONTENT_SECURITY_POLICY, csp(ancestors)));
        if ancestors == "'none'" {
            response.insert_header((header::X_FRAME_OPTIONS, "DENY"));
        }
        response.insert_header(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"));
    }
    let accepts_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    match gzip {
        Some(gz) if accepts_gzip => {
            response.insert_header((header::CONTENT_ENCODING, "gzip"));
            response.body(gz)
        }
        _ => response.body(body),
    }
}

/// The agent workspace (sign-in first). Never framed.
#[utoipa::path(tag = "pages", responses((status = 200, description = "the workspace page", content_type = "text/html")))]
#[get("/")]
pub async fn workspace(req: HttpRequest) -> HttpResponse {
    serve(&req, "index.html", "no-cache", Some("'none'"))
}

/// The consoles (supervisors, bot trainers, administrators, auditors): the same page as the workspace,
/// which signs in and then draws the console the path names, or "not allowed" without its role.
#[utoipa::path(
    tag = "pages",
    params(("console" = String, Path, description = "`supervisor`, `trainer`, `admin` or `auditor`", example = "supervisor")),
    responses((status = 200, description = "the console page", content_type = "text/html"))
)]
#[get("/{console:supervisor|trainer|admin|auditor}")]
pub async fn console(req: HttpRequest) -> HttpResponse {
    serve(&req, "index.html", "no-cache", Some("'none'"))
}

/// The customer chat as a full page (links in e-mails and SMS); framed only by the origins
/// allowed to embed the chat.
#[utoipa::path(tag = "pages", responses((status = 200, description = "the chat page", content_type = "text/html")))]
#[get("/chat")]
pub async fn chat(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut ancestors = vec!["'self'".to_owned()];
    ancestors.extend(
        state
            .settings
            .allowed_origins()
            .iter()
            .filter(|o| *o != "*" && o.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b','))
            .map(|o| crate::http::origin::normalize(o)),
    );
    serve(&req, "chat.html", "no-cache", Some(&ancestors.join(" ")))
}

/// The script a website embeds (`<script src="…/widget.js">`). Any page may load it; whether it
/// may talk to the hub is the origin check's business.
#[utoipa::path(tag = "pages", responses((status = 200, description = "the widget", content_type = "text/javascript")))]
#[get("/widget.js")]
pub async fn widget(req: HttpRequest) -> HttpResponse {
    serve(&req, "widget.js", "public, max-age=300", None)
}

/// The workspace's hashed bundles.
#[utoipa::path(
    tag = "pages",
    params(("file" = String, Path, description = "a bundle's file name")),
    responses((status = 200, description = "the file, cached for a year"), (status = 404, description = "no such file"))
)]
#[get("/assets/{file}")]
pub async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    serve(&req, &format!("assets/{file}"), "public, max-age=31536000, immutable", None)
}

/// The help pages run no script at all: only their stylesheet and same-origin images load.
const HELP_CSP: &str = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; \
                        base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The help articles' stylesheet.
#[utoipa::path(tag = "pages", responses((status = 200, description = "the stylesheet", content_type = "text/css")))]
#[get("/help.css")]
pub async fn help_stylesheet(req: HttpRequest) -> HttpResponse {
    serve(&req, "help.css", "public, max-age=3600", None)
}

/// A published help article as a web page: the links under the bot's answers lead here. Drafts,
/// archived and unknown articles are all the same 404.
#[utoipa::path(
    tag = "pages",
    params(("id" = String, Path, description = "the article's document id")),
    responses(
        (status = 200, description = "the article", content_type = "text/html"),
        (status = 404, description = "no such published article", content_type = "text/html")
    )
)]
#[get("/help/{id}")]
pub async fn help_article(state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    let found = match id.parse::<DocumentId>() {
        Ok(id) => state.knowledge.published(id).await,
        Err(_) => Err(crate::error::Error::NotFound("article")),
    };
    let (status, html) = match found {
        Ok(doc) => (StatusCode::OK, help::page(&doc)),
        Err(e) => {
            let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, help::failure(status))
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, HELP_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(html)
}

#[derive(Serialize)]
struct DemoAccount {
    email: &'static str,
    name: &'static str,
    roles: Vec<&'static str>,
}

/// What the sign-in page needs before anyone signs in: the sign-in methods, and in demo mode the
/// demo accounts and their password (printed on start and in the README anyway).
#[utoipa::path(tag = "pages", responses((status = 200, description = "`{demo, demo_accounts, demo_password, sign_in_methods}`")))]
#[get("/web/config.json")]
pub async fn web_config(state: web::Data<AppState>) -> HttpResponse {
    let demo = state.config.demo.enabled;
    let accounts: Vec<DemoAccount> = if demo {
        DEMO_STAFF
            .iter()
            .map(|&(email, name, roles)| DemoAccount {
                email,
                name,
                roles: roles.iter().copied().map(schema::Role::as_str).collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
        "demo": demo,
        "demo_accounts": accounts,
        "demo_password": if demo { Some(DEMO_PASSWORD) } else { None },
        "sign_in_methods": sign_in_methods(&state),
    }))
}

/// The sign-in methods offered: `password` (unless local passwords are off) and `sso`.
fn sign_in_methods(state: &AppState) -> Vec<&'static str> {
    let password = state.password_policy.local_passwords().then_some("password");
    let sso = state.sso.is_some().then_some("sso");
    password.into_iter().chain(sso).collect()
}

/// The widget's look and limits (public; origin-checked).
#[utoipa::path(
    tag = "web chat",
    responses(
        (status = 200, description = "`{title, greeting, primary_color, on_primary_color, languages, max_message_chars, max_attachment_bytes, attachment_types}`"),
        (status = 403, description = "the page's origin may not use the chat", body = crate::http::views::ErrorBody)
    )
)]
#[get("/webchat/config")]
pub async fn widget_config(state: web::Data<AppState>) -> HttpResponse {
    let (w, _) = state.settings.widget();
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-cache")).json(serde_json::json!({
        "title": w.title,
        "greeting": w.greeting,
        "primary_color": colour(&w.primary_color).unwrap_or("#0b57d0"),
        "on_primary_color": colour(&w.on_primary_color).unwrap_or("#ffffff"),
        "languages": ["en", "es", "pt"],
        "max_message_chars": state.config.webchat.max_message_chars,
        "max_attachment_bytes": state.config.webchat.max_attachment_bytes,
        "attachment_types": channels::webchat::upload::FileKind::ALL.map(channels::webchat::upload::FileKind::mime_type),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_colours_reach_css() {
        assert_eq!(colour("#0b57d0"), Some("#0b57d0"));
        assert_eq!(colour("red; background: url(x)"), None);
        assert_eq!(colour("#12345"), None);
    }

    #[test]
    fn the_policy_forbids_inline_script_and_framing() {
        let p = csp("'none'");
        assert!(p.contains("script-src 'self';"));
        assert!(!p.contains("unsafe-inline"));
        assert!(p.ends_with("frame-ancestors 'none'"));
    }
}
