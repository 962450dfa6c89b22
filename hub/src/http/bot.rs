//! The bot's work for trainers (role `bot_trainer`): the questions it could not answer
//! (grouped), answering them, and verdicts on its answers.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, put, web};
use schema::knowledge::StoredIntent;
use schema::{
    AgentId, AuditAction, ConversationId, IntentName, Language, Message, MessageId, Role, TargetKind, UnansweredId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{BotAnswerView, DocumentView, ErrorBody, Items};
use crate::services::audit::Event;
use crate::services::knowledge::{AnswerInput, AnswersFilter, IntentInput, Trial};

/// The bot trainers' routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(unanswered)
        .service(answer_unanswered)
        .service(dismiss_unanswered)
        .service(merge_unanswered)
        .service(conversation_messages)
        .service(answers)
        .service(judge)
        .service(try_it)
        .service(intents)
        .service(put_intent);
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
    security(("bearer" = ["bot_trainer"])),
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
    security(("bearer" = ["bot_trainer"])),
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
    /// Only answers given with a confidence below this (0 to 1).
    below_confidence: Option<f64>,
    /// `en`, `es` or `pt`.
    language: Option<String>,
    /// Only answers the customer said did not help (their next message).
    unhelpful: Option<bool>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

/// The bot's answers, newest first, with question, article, confidence and verdict.
#[utoipa::path(
    params(AnswersQuery),
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
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
    let AnswersQuery { unjudged, below_confidence, language, unhelpful, limit } = q.into_inner();
    let filter = AnswersFilter {
        unjudged: unjudged.unwrap_or(false),
        below_confidence,
        language,
        unhelpful: unhelpful.unwrap_or(false),
        limit,
    };
    let items = state.knowledge.answers(filter).await?;
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
    security(("bearer" = ["bot_trainer"])),
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

/// Unanswered questions to act on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnansweredIds {
    /// 1 to 1000 unanswered question ids (a group, usually).
    ids: Vec<UnansweredId>,
}

/// How many questions left the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dismissed {
    dismissed: u64,
}

/// Takes unanswered questions out of the queue without answering them (questions that need no
/// answer: greetings, spam, one-offs).
#[utoipa::path(
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
    request_body = UnansweredIds,
    responses(
        (status = 200, body = Dismissed),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/bot/unanswered/dismiss")]
pub async fn dismiss_unanswered(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<UnansweredIds>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let dismissed = state.knowledge.dismiss_unanswered(trainer.id, &body.ids).await?;
    Ok(HttpResponse::Ok().json(Dismissed { dismissed }))
}

/// Unanswered questions to add to a document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeUnanswered {
    /// 1 to 1000 unanswered question ids (a group, usually).
    ids: Vec<UnansweredId>,
    /// The article or Q&A pair (in the questions' language) they become phrasings of.
    document_id: schema::DocumentId,
}

/// Adds unanswered questions to an existing article or Q&A pair as phrasings (a new version;
/// its status is kept) and takes them out of the queue. The next customer who asks alike finds
/// that document.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
    request_body = MergeUnanswered,
    responses(
        (status = 200, body = Answered),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such document", body = ErrorBody),
        (status = 409, description = "none of these questions is still open", body = ErrorBody),
        (status = 422, description = "bad ids, another language, or too many phrasings", body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[post("/bot/unanswered/merge")]
pub async fn merge_unanswered(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<MergeUnanswered>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let (document, resolved) = state.knowledge.merge_unanswered(trainer.id, &body.ids, body.document_id).await?;
    Ok(HttpResponse::Ok().json(Answered { document: document.into(), resolved }))
}

/// The bot's part of a conversation a question came from (oldest first, at most 200), for
/// trainers, who are not agents: only conversations the bot answered in or queued a question
/// from (404 otherwise), and only the messages up to the hand-over (before the first ticket, or
/// up to the bot's last message and the customer's next one); never an agent's message.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Items<Message>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/bot/conversations/{id}/messages")]
pub async fn conversation_messages(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(Items::<Message>::of(state.knowledge.conversation_messages(trainer.id, *id).await?)))
}

/// A question to try.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryBody {
    /// 1 to 1000 characters, as a customer would write it.
    text: String,
    /// The conversation's language, used when the text does not show its own: `en` (default),
    /// `es` or `pt`.
    language: Option<String>,
}

/// The intent the bot recognised.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriedIntent {
    name: String,
    /// Similarity to the nearest example (with a model) or term overlap (without).
    score: f32,
    /// The example that matched best.
    example: String,
}

/// One search hit with its ranks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriedHit {
    document_id: String,
    title: String,
    language: Language,
    /// The fused score.
    score: f32,
    bm25_rank: Option<u32>,
    vector_rank: Option<u32>,
    passage: String,
}

/// What the bot would do with a question, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tried {
    /// `answer`, `hand_over` or `ask` (a clarifying question or a request to rephrase).
    decision: &'static str,
    /// For a hand-over: `low_confidence`, `asked_for_human`, `always_human`, `repeated_failure`.
    reason: Option<&'static str>,
    /// What the customer would read (a hand-over's with `{wait}` for the estimated wait).
    text: String,
    /// The document answered from.
    document_id: Option<String>,
    /// The language the bot answers in.
    language: Language,
    /// How sure the bot is that the best hit answers the question (0 to 1).
    confidence: f32,
    intent: Option<TriedIntent>,
    /// The skills a hand-over asks for.
    skills: Vec<(String, u8)>,
    /// The search hits, best first, with their BM25 and vector ranks.
    hits: Vec<TriedHit>,
    /// `hybrid` or `keyword_only`.
    search: &'static str,
}

impl From<Trial> for Tried {
    fn from(t: Trial) -> Self {
        let a = t.assessment;
        let (decision, reason, text, document_id, skills) = match t.decision {
            bot::Decision::Answer { text, article, .. } => ("answer", None, text, Some(article.to_string()), vec![]),
            bot::Decision::Ask { text, .. } => ("ask", None, text, None, vec![]),
            bot::Decision::HandOver { reason, message, skills, .. } => {
                ("hand_over", Some(reason.as_str()), message, None, skills)
            }
        };
        Self {
            decision,
            reason,
            text,
            document_id,
            language: a.language,
            confidence: a.confidence,
            intent: a.intent.map(|m| TriedIntent { name: m.name, score: m.score, example: m.example }),
            skills,
            hits: a
                .hits
                .into_iter()
                .map(|h| TriedHit {
                    document_id: h.id.to_string(),
                    title: h.title,
                    language: h.language,
                    score: h.score,
                    bm25_rank: h.bm25_rank,
                    vector_rank: h.vector_rank,
                    passage: h.passage,
                })
                .collect(),
            search: t.search,
        }
    }
}

/// Runs the bot's real decision on a question, as if a customer had just opened a conversation
/// with it, and shows why: answer or hand-over, confidence, intent, search hits with their BM25
/// and vector ranks. Nothing is stored: no conversation, no unanswered question.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
    request_body = TryBody,
    responses(
        (status = 200, body = Tried),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[post("/bot/try")]
pub async fn try_it(state: web::Data<AppState>, staff: Staff, body: web::Json<TryBody>) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    let TryBody { text, language } = body.into_inner();
    Ok(HttpResponse::Ok().json(Tried::from(state.knowledge.try_turn(text, language.as_deref()).await?)))
}

/// A skill an intent needs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentSkill {
    skill: String,
    /// 1 to 10.
    level: i64,
}

/// An intent.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentView {
    name: IntentName,
    /// Example phrasings by language (`en`, `es`, `pt`).
    examples: std::collections::BTreeMap<Language, Vec<String>>,
    /// A person always handles it: the bot hands over at once.
    always_human: bool,
    skills: Vec<IntentSkill>,
    /// `null`: as built in.
    updated_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<StoredIntent> for IntentView {
    fn from(i: StoredIntent) -> Self {
        Self {
            name: i.name,
            examples: i.content.examples,
            always_human: i.content.always_human,
            skills: i
                .content
                .skills
                .into_iter()
                .map(|(s, l)| IntentSkill { skill: s.as_str().to_owned(), level: i64::from(l.get()) })
                .collect(),
            updated_by: i.updated_by,
            updated_at: i.updated_at,
        }
    }
}

/// The bot's intents, in the order they are matched.
#[utoipa::path(
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
    responses(
        (status = 200, body = Items<IntentView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)
    )
)]
#[get("/bot/intents")]
pub async fn intents(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(Items::<IntentView>::of(state.knowledge.intents().await?)))
}

/// An intent as trainers write it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentBody {
    /// Example phrasings by language (`en`, `es`, `pt`): at least one in all, at most 100 per
    /// language, 300 characters each.
    examples: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    always_human: bool,
    /// At most 10.
    #[serde(default)]
    skills: Vec<IntentSkill>,
}

/// Creates or replaces an intent. The bot's intent classifier is rebuilt and used from the
/// next customer turn (hand-over for an always-human intent, the skills a hand-over asks for).
#[utoipa::path(
    tag = "bot",
    security(("bearer" = ["bot_trainer"])),
    params(("name" = String, Path, description = "the intent: lower-case letters, digits, '-' and '_'")),
    request_body = IntentBody,
    responses(
        (status = 200, body = IntentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[put("/bot/intents/{name}")]
pub async fn put_intent(
    state: web::Data<AppState>,
    staff: Staff,
    name: web::Path<String>,
    body: web::Json<IntentBody>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let IntentBody { examples, always_human, skills } = body.into_inner();
    let input = IntentInput {
        examples: examples.into_iter().collect(),
        always_human,
        skills: skills.into_iter().map(|s| (s.skill, s.level)).collect(),
    };
    let intent = IntentView::from(state.knowledge.put_intent(trainer.id, &name, input).await?);
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::IntentChanged).target(TargetKind::Intent, &*name).after(&intent),
        )
        .await?;
    Ok(HttpResponse::Ok().json(intent))
}
