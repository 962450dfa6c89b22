//! E-mail for staff: inbound attachments (agent), and the mails that did not become a message
//! (admin), listed and downloaded as kept.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Query;
use actix_web::{HttpResponse, get, web};
use schema::{AttachmentId, Role, StoredAttachment};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{ErrorBody, UnprocessedEmailView};
use crate::http::{Page, page_size};

/// E-mail routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(download_attachment).service(unprocessed).service(download_raw);
}

/// A file name safe for a `Content-Disposition` header.
fn safe_file_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() { "attachment".to_owned() } else { cleaned }
}

/// A download of stored bytes: never sniffed, never cached.
fn download(content_type: HeaderValue, file_name: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(body)
}

/// A file of a conversation (an e-mail attachment or a file sent in the web chat), as a download
/// (agent).
#[utoipa::path(
    tag = "email",
    security(("bearer" = ["agent"])),
    params(("id" = AttachmentId, Path, description = "the attachment")),
    responses(
        (status = 200, description = "the file, as received (text files with card numbers masked)", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "unknown, or not kept (over the size limit)", body = ErrorBody)
    )
)]
#[get("/attachments/{id}")]
pub async fn download_attachment(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    file_response(state.core.store.attachment(*id).await?)
}

/// A kept file as a download: its type only when it is a plain `type/subtype`, never shown
/// inline, never cached.
///
/// # Errors
/// Not kept (over the size limit when it arrived): 404.
pub fn file_response(file: StoredAttachment) -> Result<HttpResponse, Error> {
    let Some(content) = file.content else {
        return Err(Error::NotFound("attachment content (it was over the size limit)"));
    };
    let content_type = file
        .content_type
        .parse::<HeaderValue>()
        .ok()
        .filter(|v| v.to_str().is_ok_and(|s| s.contains('/') && !s.contains(';')))
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    Ok(download(content_type, &safe_file_name(file.file_name.as_deref()), content))
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Received mails kept with a parse error (unparseable, too large to fetch over IMAP, no usable
/// sender), newest first (admin).
#[utoipa::path(
    params(PageQuery),
    tag = "email",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, body = Page<UnprocessedEmailView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/email/unprocessed")]
pub async fn unprocessed(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let limit = page_size(query.limit, "limit")?;
    let page = state.core.store.unprocessed_emails(limit, query.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok().json(Page::<UnprocessedEmailView>::of(page)))
}

/// A received mail as kept (card numbers masked), as a `.eml` download (admin).
#[utoipa::path(
    tag = "email",
    security(("bearer" = ["admin"])),
    params(("message_id" = String, Path, description = "the mail's Message-ID")),
    responses(
        (status = 200, description = "the mail", content_type = "message/rfc822"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/email/inbound/{message_id}/raw")]
pub async fn download_raw(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let mail = state.core.store.inbound_email(id.as_str()).await?.ok_or(Error::NotFound("mail"))?;
    Ok(download(HeaderValue::from_static("message/rfc822"), "mail.eml", mail.raw))
}
