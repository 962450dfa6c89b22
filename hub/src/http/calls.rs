//! Voice calls (staff): a conversation's calls, and a call's wrap-up code.

use actix_web::{HttpResponse, get, put, web};
use schema::{ConversationId, Role};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{self, ErrorBody, VoiceCallView};
use crate::services::voice;

/// Call routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(set_disposition);
}

/// The conversation's calls, oldest first (agent).
#[utoipa::path(
    tag = "voice",
    security(("bearer" = ["agent"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<VoiceCallView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/conversations/{id}/calls")]
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    state.core.store.conversation(*id).await?;
    let calls: Vec<VoiceCallView> = views::all(state.core.store.conversation_calls(*id).await?);
    Ok(HttpResponse::Ok().json(calls))
}

/// A call's wrap-up code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionBody {
    /// 1 to 50 lower-case letters, digits, `_` or `-`.
    disposition: String,
}

/// The call's wrap-up code, also written in its ticket's history (the agent who answered, or a
/// supervisor).
#[utoipa::path(
    tag = "voice",
    security(("bearer" = ["agent"])),
    params(("id" = String, Path, description = "the call's SIP Call-ID")),
    request_body = DispositionBody,
    responses(
        (status = 200, body = VoiceCallView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[put("/calls/{id}/disposition")]
pub async fn set_disposition(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    body: web::Json<DispositionBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let call = voice::set_disposition(&state.core.store, agent, &id, &body.disposition).await?;
    Ok(HttpResponse::Ok().json(VoiceCallView::from(call)))
}
