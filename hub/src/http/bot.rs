//! The bot's work for trainers (role `bot_trainer`): the questions it could not answer
//! (grouped), answering them, and verdicts on its answers.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, put, web};
use schema::{ConversationId, Language, MessageId, Role, UnansweredId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{BotAnswerView, DocumentView, ErrorBody, Items};
use crate::services::knowledge::AnswerInput;

/// The bot trainers' routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(unanswered).service(answer_unanswered).service(answers).service(judge);
}

/// A question the bot could not answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnansweredItem {
    id: UnansweredId,
    conversation_id: ConversationId,
    question: String,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// Questions asked alike.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnansweredGroup {
    /// The first question asked this way.
    question: String,
    language: Language,
    count: usize,
    items: Vec<UnansweredItem>,
}

/// The groups of unanswered questions.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnansweredGroups {
    groups: Vec<UnansweredGroup>,
}

/// Open questions the bot could not answer, grouped by similarity, most asked first.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UnansweredGroups),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[get("/bot/unanswered")]
pub async fn unanswered(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    let groups: Vec<UnansweredGroup> = state
        .knowledge
        .unanswered()
        .await?
        .into_iter()
        .filter_map(|g| {
            let first = g.items.first()?;
            let (question, language) = (first.question.clone(), first.language);
            let items: Vec<UnansweredItem> = g
                .items
                .into_iter()
                .map(|u| UnansweredItem {
                    id: u.id,
                    conversation_id: u.conversation_id,
                    question: u.question,
                    reason: u.reason,
                    created_at: u.created_at,
                })
                .collect();
            Some(UnansweredGroup { question, language, count: items.len(), items })
        })
        .collect();
    Ok(HttpResponse::Ok().json(UnansweredGroups { groups }))
}

/// An answer to unanswered questions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerUnanswered {
    /// The unanswered questions this answers (a group, usually).
    ids: Vec<UnansweredId>,
    /// The answer customers will get.
    answer: String,
    /// The Q&A pair's title; default: the first question.
    title: Option<String>,
    /// More phrasings, besides the questions themselves.
    #[serde(default)]
    questions: Vec<String>,
    language: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The Q&A pair made of answered questions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Answered {
    document: DocumentView,
    /// How many questions left the queue.
    resolved: u64,
}

/// Turns unanswered questions into a published Q&A pair (their own words become its phrasings)
/// and marks them answered. The next customer who asks gets it.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = [])),
    request_body = AnswerUnanswered,
    responses(
        (status = 201, body = Answered),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "none of these questions is still open", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[post("/bot/unanswered/answer")]
pub async fn answer_unanswered(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<AnswerUnanswered>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let AnswerUnanswered { ids, answer, title, questions, language, tags } = body.into_inner();
    let input = AnswerInput { ids, answer, title, questions, language, tags };
    let (document, resolved) = state.knowledge.answer_unanswered(trainer.id, input).await?;
    Ok(HttpResponse::Created().json(Answered { document: document.into(), resolved }))
}

/// Filters of the answer list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnswersQuery {
    /// Only answers without a verdict.
    unjudged: Option<bool>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

/// The bot's answers, newest first, with question, article, confidence and verdict.
#[utoipa::path(
    params(AnswersQuery),
    tag = "bot",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Items<BotAnswerView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/bot/answers")]
pub async fn answers(state: web::Data<AppState>, staff: Staff, q: Query<AnswersQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    let items = state.knowledge.answers(q.unjudged.unwrap_or(false), q.limit).await?;
    Ok(HttpResponse::Ok().json(Items::<BotAnswerView>::of(items)))
}

/// A trainer's verdict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    /// `right` or `wrong`.
    verdict: String,
}

/// Judges an answer; a wrong answer's question joins the unanswered queue.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = [])),
    params(("id" = MessageId, Path, description = "the bot's message")),
    request_body = VerdictBody,
    responses(
        (status = 200, body = BotAnswerView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[put("/bot/answers/{id}/verdict")]
pub async fn judge(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<MessageId>,
    body: web::Json<VerdictBody>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(BotAnswerView::from(state.knowledge.judge(trainer.id, *id, &body.verdict).await?)))
}
