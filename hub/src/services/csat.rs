//! Customer satisfaction (CSAT): when a ticket is resolved, the customer is asked for a score
//! (1 to 5) and an optional comment in the channel they used: a `survey` frame (buttons) in the
//! web chat, a message to answer with a number on WhatsApp, Messenger and Telegram, one-click
//! links in the e-mail reply (a signed, expiring, single-use token), an e-mail (or SMS) to a
//! verified contact after a phone call. One survey per ticket (the store's unique index), none
//! to a customer who opted out (`surveys` consent refused), in the customer's language; the
//! first answer is kept. The reports read the surveys by slot, agent and score.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use schema::csat::{Answered, Comment, CsatFilter, CsatSlot, NewSurvey, Score, Survey};
use schema::{
    AgentId, AuthorKind, Channel, ChannelMessageId, ConsentKind, ConversationStatus, HandleKind, Language, MessageText,
    NewMessage, SurveyId, Ticket,
};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::config::CsatConfig;
use crate::error::Error;
use crate::services::Core;
use crate::services::churn::Churn;
use crate::services::ingest::Ingest;
use crate::services::routing::ResolvedHook;
use crate::services::selfservice::{CodeSender, Notice};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a link token (128 bits).
const MAC_BYTES: usize = 16;
/// A token: the survey id (16 bytes), its expiry (8, Unix seconds, big-endian), the MAC.
const TOKEN_BYTES: usize = 16 + 8 + MAC_BYTES;

/// What the customer is told, in their language.
struct Texts {
    question: &'static str,
    reply_hint: &'static str,
    link_intro: &'static str,
    labels: [&'static str; 5],
    thanks: &'static str,
    subject: &'static str,
}

const EN: Texts = Texts {
    question: "How satisfied are you with the help you received?",
    reply_hint: "Reply with a number from 1 (very unsatisfied) to 5 (very satisfied); you may add a comment after it.",
    link_intro: "Choose your answer (one click):",
    labels: ["1 - very unsatisfied", "2 - unsatisfied", "3 - neutral", "4 - satisfied", "5 - very satisfied"],
    thanks: "Thank you for your rating.",
    subject: "How did we do?",
};

const ES: Texts = Texts {
    question: "¿Cómo de satisfecho está con la ayuda que ha recibido?",
    reply_hint: "Responda con un número del 1 (muy insatisfecho) al 5 (muy satisfecho); puede añadir un comentario después.",
    link_intro: "Elija su respuesta (un clic):",
    labels: ["1 - muy insatisfecho", "2 - insatisfecho", "3 - neutral", "4 - satisfecho", "5 - muy satisfecho"],
    thanks: "Gracias por su valoración.",
    subject: "¿Qué tal lo hemos hecho?",
};

const PT: Texts = Texts {
    question: "Qual é o seu grau de satisfação com a ajuda que recebeu?",
    reply_hint: "Responda com um número de 1 (muito insatisfeito) a 5 (muito satisfeito); pode acrescentar um comentário a seguir.",
    link_intro: "Escolha a sua resposta (um clique):",
    labels: ["1 - muito insatisfeito", "2 - insatisfeito", "3 - neutro", "4 - satisfeito", "5 - muito satisfeito"],
    thanks: "Obrigado pela sua avaliação.",
    subject: "Como correu?",
};

const fn texts(language: Language) -> &'static Texts {
    match language {
        Language::En => &EN,
        Language::Es => &ES,
        Language::Pt => &PT,
    }
}

/// The question as the web chat widget shows it above its buttons.
#[must_use]
pub fn question(language: Language) -> &'static str {
    texts(language).question
}

/// A reply that answers a survey: a score from 1 to 5 first (`4`, `4/5`, `5 great`), then an
/// optional comment on the same line. Anything else (`45`, `1234 is my number`) is not one.
#[must_use]
pub fn parse_reply(text: &str) -> Option<(Score, &str)> {
    let text = text.trim_start();
    let line = text.lines().next()?;
    let mut chars = line.char_indices();
    let (_, first) = chars.next()?;
    let score: Score = first.to_digit(10).and_then(|d| u8::try_from(d).ok()).and_then(|d| Score::try_from(d).ok())?;
    let rest = &line[first.len_utf8()..];
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix("/5").unwrap_or(rest);
    if rest.starts_with(|c: char| c.is_alphanumeric()) {
        return None;
    }
    let comment = rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '.' | ',' | '-' | ':' | '!'));
    Some((score, comment.trim()))
}

/// Why a link token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Not a token this hub signed (forged, altered, truncated).
    Invalid,
    /// Past its expiry.
    Expired,
    /// The survey was answered already (the link is single use).
    Used,
}

/// What a survey link leads to.
#[derive(Debug)]
pub enum LinkState {
    /// The survey waits for its answer.
    Open(Survey),
    Refused(LinkRefusal, Option<Language>),
}

/// The satisfaction surveys of the hub.
#[derive(Debug)]
pub struct Csat {
    core: Core,
    ingest: Arc<Ingest>,
    config: CsatConfig,
    /// Sends the follow-up of a phone call (e-mail, SMS), by kind of contact.
    senders: Vec<Arc<dyn CodeSender>>,
    key: [u8; 32],
    /// Recomputes the customer's churn risk when they answer (a low score is one of its factors).
    churn: Option<Arc<Churn>>,
}

impl Csat {
    /// The survey service; `key` signs the e-mail links.
    #[must_use]
    pub fn new(
        core: Core,
        ingest: Arc<Ingest>,
        config: CsatConfig,
        senders: Vec<Arc<dyn CodeSender>>,
        key: [u8; 32],
    ) -> Self {
        Self { core, ingest, config, senders, key, churn: None }
    }

    /// With churn risk: each answer recomputes the customer's score.
    #[must_use]
    pub fn with_churn(mut self, churn: Arc<Churn>) -> Self {
        self.churn = Some(churn);
        self
    }

    /// The link token of `survey`.
    #[must_use]
    pub fn token(&self, survey: &Survey) -> String {
        sign(&self.key, survey.id, survey.expires_at)
    }

    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<SurveyId, LinkRefusal> {
        verify(&self.key, token, now)
    }

    /// Where a link token leads now.
    ///
    /// # Errors
    /// The store fails.
    pub async fn link(&self, token: &str) -> Result<LinkState, Error> {
        let now = OffsetDateTime::now_utc();
        let id = match self.verify(token, now) {
            Ok(id) => id,
            Err(refusal) => return Ok(LinkState::Refused(refusal, None)),
        };
        let survey = match self.core.store.survey(id).await {
            Ok(s) => s,
            // Signed by this hub but gone (the customer was erased): as if forged.
            Err(schema::StoreError::NotFound { .. }) => return Ok(LinkState::Refused(LinkRefusal::Invalid, None)),
            Err(e) => return Err(e.into()),
        };
        Ok(if survey.answered_at.is_some() {
            LinkState::Refused(LinkRefusal::Used, Some(survey.language))
        } else if survey.expires_at <= now {
            LinkState::Refused(LinkRefusal::Expired, Some(survey.language))
        } else {
            LinkState::Open(survey)
        })
    }

    /// Answers the survey a link token names.
    ///
    /// # Errors
    /// The store fails; the refusal otherwise (with the survey's language when known).
    pub async fn answer_link(
        &self,
        token: &str,
        score: Score,
        comment: Option<&Comment>,
    ) -> Result<Result<Survey, (LinkRefusal, Option<Language>)>, Error> {
        let now = OffsetDateTime::now_utc();
        let id = match self.verify(token, now) {
            Ok(id) => id,
            Err(refusal) => return Ok(Err((refusal, None))),
        };
        match self.core.store.answer_survey(id, score, comment, now).await {
            Ok(Answered::Recorded(survey)) => {
                self.answered(&survey).await;
                Ok(Ok(survey))
            }
            Ok(Answered::AlreadyAnswered(s)) => Ok(Err((LinkRefusal::Used, Some(s.language)))),
            Ok(Answered::Expired(s)) => Ok(Err((LinkRefusal::Expired, Some(s.language)))),
            Err(schema::StoreError::NotFound { .. }) => Ok(Err((LinkRefusal::Invalid, None))),
            Err(e) => Err(e.into()),
        }
    }

    /// Answers a web chat survey from the customer's socket (the survey must be of their
    /// conversation).
    ///
    /// # Errors
    /// Not this conversation's survey (404), answered before (409), expired (410 as 409), the
    /// store fails.
    pub async fn answer_chat(
        &self,
        conversation: schema::ConversationId,
        id: SurveyId,
        score: Score,
        comment: Option<&Comment>,
    ) -> Result<Survey, Error> {
        let survey = match self.core.store.survey(id).await {
            Ok(s) => s,
            Err(schema::StoreError::NotFound { .. }) => return Err(Error::NotFound("survey")),
            Err(e) => return Err(e.into()),
        };
        if survey.conversation_id != conversation {
            return Err(Error::NotFound("survey"));
        }
        match self.core.store.answer_survey(id, score, comment, OffsetDateTime::now_utc()).await? {
            Answered::Recorded(survey) => {
                self.answered(&survey).await;
                Ok(survey)
            }
            Answered::AlreadyAnswered(_) => Err(Error::Conflict("this survey was answered already".into())),
            Answered::Expired(_) => Err(Error::Conflict("this survey has expired".into())),
        }
    }

    /// The web chat survey waiting in `conversation`, if any.
    ///
    /// # Errors
    /// The store fails.
    pub async fn open_chat_survey(&self, conversation: schema::ConversationId) -> Result<Option<Survey>, Error> {
        Ok(self
            .core
            .store
            .open_survey(conversation, OffsetDateTime::now_utc())
            .await?
            .filter(|s| s.via == Channel::WebChat))
    }

    /// A customer's message in a resolved conversation whose survey waits: if it is a score
    /// (`parse_reply`), it answers the survey and the customer is thanked; `true` then (the
    /// conversation is not reopened). Any other message is left to reopen it.
    pub async fn take_reply(&self, conversation: &schema::Conversation, text: &str) -> bool {
        if conversation.status != ConversationStatus::Resolved {
            return false;
        }
        let Some((score, comment)) = parse_reply(text) else { return false };
        let survey = match self.core.store.open_survey(conversation.id, OffsetDateTime::now_utc()).await {
            Ok(Some(s)) => s,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(error = %e, conversation_id = %conversation.id, "cannot read the survey");
                return false;
            }
        };
        let comment = Comment::parse(comment).ok().flatten();
        match self.core.store.answer_survey(survey.id, score, comment.as_ref(), OffsetDateTime::now_utc()).await {
            Ok(Answered::Recorded(survey)) => {
                self.answered(&survey).await;
                self.thank(&survey).await;
                true
            }
            // Answered a moment ago (a double tap): not a new message to reopen for.
            Ok(Answered::AlreadyAnswered(_)) => true,
            Ok(Answered::Expired(_)) => false,
            Err(e) => {
                tracing::error!(error = %e, survey_id = %survey.id, "cannot record the rating");
                false
            }
        }
    }

    /// Counts an answer just recorded and recomputes the customer's churn risk (a failure there
    /// is logged: the answer is stored, and the score is recomputed when next read stale).
    async fn answered(&self, survey: &Survey) {
        let score = survey.score.map_or_else(String::new, |s| s.to_string());
        self.core.metrics.csat_answers.with_label_values(&[survey.via.as_str(), &score]).inc();
        tracing::info!(survey_id = %survey.id, ticket_id = %survey.ticket_id, via = %survey.via, "survey answered");
        if let Some(churn) = &self.churn
            && let Err(e) = churn.compute(survey.customer_id).await
        {
            tracing::warn!(error = %e, customer_id = %survey.customer_id, "churn risk not recomputed after a rating");
        }
    }

    async fn thank(&self, survey: &Survey) {
        let text = texts(survey.language).thanks;
        if let Err(e) = self.say(survey, "thanks", text).await {
            tracing::warn!(error = %e, survey_id = %survey.id, "cannot thank the customer");
        }
    }

    /// Appends a bot message for `survey` (keyed, so it is stored and sent once).
    async fn say(&self, survey: &Survey, what: &str, text: &str) -> Result<(), Error> {
        let text = MessageText::parse(text, 4_000)?;
        let key: ChannelMessageId = format!("csat:{}:{what}", survey.id).parse()?;
        // Boxed: ingest calls back into the surveys for a customer's reply.
        Box::pin(self.ingest.append(NewMessage {
            conversation_id: survey.conversation_id,
            author: AuthorKind::Bot,
            author_id: None,
            text,
            channel_message_id: Some(key),
            media: Vec::new(),
            template: None,
        }))
        .await?;
        Ok(())
    }

    /// Sends the survey of a resolved ticket, if its customer is to be asked: recorded first
    /// (once per ticket), then asked.
    ///
    /// # Errors
    /// The store fails, or the question cannot be sent.
    pub async fn invite(&self, ticket: &Ticket) -> Result<Option<Survey>, Error> {
        if !self.config.enabled {
            return Ok(None);
        }
        let store = &self.core.store;
        let conversation = store.conversation(ticket.conversation_id).await?;
        let customer = store.customer(conversation.customer_id).await?;
        let language = conversation.language;
        if !self.config.channels.contains(&conversation.channel) || !self.config.languages.contains(&language) {
            return Ok(None);
        }
        let opted_out =
            store.customer_consents(customer.id).await?.iter().any(|c| c.kind == ConsentKind::Surveys && !c.granted);
        if opted_out {
            self.skip("opted_out");
            return Ok(None);
        }
        // A call is followed up on a verified contact; every other channel is answered in place.
        let (via, contact) = if conversation.channel == Channel::Voice {
            match self.call_contact(customer.id).await? {
                Some(found) => found,
                None => {
                    self.skip("no_contact");
                    return Ok(None);
                }
            }
        } else {
            (conversation.channel, None)
        };
        let now = OffsetDateTime::now_utc();
        let new = NewSurvey {
            id: SurveyId::new(),
            ticket_id: ticket.id,
            conversation_id: conversation.id,
            customer_id: customer.id,
            channel: conversation.channel,
            via,
            agent_id: ticket.assignee_id,
            queue: ticket.queue.clone(),
            language,
            tier: customer.tier,
            sent_at: now,
            expires_at: now + Duration::from_secs(u64::from(self.config.expiry_hours) * 3600),
        };
        let (survey, created) = store.insert_survey(&new).await?;
        if !created {
            return Ok(None);
        }
        self.ask(&survey, contact.as_deref()).await?;
        self.core.metrics.csat_sent.with_label_values(&[via.as_str()]).inc();
        tracing::info!(survey_id = %survey.id, ticket_id = %ticket.id, via = %via, "survey sent");
        Ok(Some(survey))
    }

    fn skip(&self, reason: &str) {
        self.core.metrics.csat_skipped.with_label_values(&[reason]).inc();
    }

    /// After a call: the customer's verified e-mail address (or, with an SMS sender, phone
    /// number) and the channel it goes through.
    async fn call_contact(&self, customer: schema::CustomerId) -> Result<Option<(Channel, Option<String>)>, Error> {
        // The follow-up is a link: without the hub's public address there is nothing to send.
        if self.config.public_url.trim().is_empty() {
            return Ok(None);
        }
        let handles = self.core.store.customer_handles(customer).await?;
        let sender = |kind: bss::ContactKind| self.senders.iter().any(|s| s.kind() == kind);
        if sender(bss::ContactKind::Email)
            && let Some(h) = handles.iter().find(|h| h.verified && h.kind == HandleKind::Email)
        {
            return Ok(Some((Channel::Email, Some(h.value.clone()))));
        }
        if self.config.sms_after_calls
            && sender(bss::ContactKind::Phone)
            && let Some(h) = handles.iter().find(|h| h.verified && h.kind == HandleKind::Phone)
        {
            return Ok(Some((Channel::Voice, Some(h.value.clone()))));
        }
        Ok(None)
    }

    fn links(&self, survey: &Survey, t: &Texts) -> Option<String> {
        let base = self.config.public_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return None;
        }
        let token = self.token(survey);
        let mut out = format!("{}\n{}\n", t.question, t.link_intro);
        for (i, label) in t.labels.iter().enumerate() {
            out.push_str(&format!("{label}: {base}/csat/{token}?score={}\n", i + 1));
        }
        Some(out)
    }

    async fn ask(&self, survey: &Survey, contact: Option<&str>) -> Result<(), Error> {
        let t = texts(survey.language);
        let in_place = format!("{}\n{}", t.question, t.reply_hint);
        match (survey.channel, survey.via, contact) {
            // The chat shows its buttons on the `survey` frame; the message is the question in
            // the transcript (and what a widget without buttons shows).
            (Channel::WebChat, _, _) => self.say(survey, "ask", t.question).await,
            // E-mail: one-click links when the hub's public address is known, else a reply.
            (Channel::Email, _, _) => {
                let text = self.links(survey, t).unwrap_or(in_place);
                self.say(survey, "ask", &text).await
            }
            // A call: the links by e-mail (or SMS), since nothing comes back on a finished call.
            (Channel::Voice, via, Some(to)) => {
                let text = self.links(survey, t).ok_or_else(|| {
                    Error::Unavailable("csat.public_url is not set: no link to send after a call".into())
                })?;
                let kind = if via == Channel::Email { bss::ContactKind::Email } else { bss::ContactKind::Phone };
                let sender = self
                    .senders
                    .iter()
                    .find(|s| s.kind() == kind)
                    .ok_or_else(|| Error::Unavailable("no sender for the call's follow-up".into()))?;
                sender
                    .send(to, &Notice { subject: t.subject.to_owned(), text })
                    .await
                    .map_err(|reason| Error::Unavailable(format!("the follow-up was not sent: {reason}")))
            }
            // WhatsApp, Messenger, Telegram: the question, answered with a number.
            _ => self.say(survey, "ask", &in_place).await,
        }
    }

    /// A CSAT report over `query`.
    ///
    /// # Errors
    /// The store fails.
    pub async fn report(&self, query: &ReportQuery) -> Result<CsatReport, Error> {
        let store = &self.core.store;
        let mut filter = query.filter.clone();
        if let Some(team) = &query.team {
            let stretches = store.team_stretches(team).await?;
            if stretches.is_empty() && !store.team_known(team).await? {
                return Err(Error::invalid("team", "a team some agent is or was in"));
            }
            filter.team = Some(stretches);
        }
        let slots = store.csat_slots(&filter).await?;
        let agents = store.csat_by_agent(&filter).await?;
        let comments = store.csat_comments(&filter, query.after, query.limit).await?;
        let mut report = aggregate(&slots, query.tz.clone(), query.bucket);
        report.agents = per_agent(&agents);
        report.comments = comments;
        Ok(report)
    }
}

fn mac(key: &[u8; 32], payload: &[u8]) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"switchboard.csat.v1");
    mac.update(payload);
    mac
}

/// A link token: the survey id and its expiry, signed with `key` (HMAC-SHA-256, 128 bits kept),
/// in URL-safe base64.
#[must_use]
pub fn sign(key: &[u8; 32], id: SurveyId, expires_at: OffsetDateTime) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_BYTES);
    bytes.extend_from_slice(id.as_uuid().as_bytes());
    bytes.extend_from_slice(&expires_at.unix_timestamp().to_be_bytes());
    let tag = mac(key, &bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag[..MAC_BYTES]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The survey a token names, if it was signed with `key` (compared in constant time) and has
/// not expired at `now`.
///
/// # Errors
/// Forged, altered or truncated ([`LinkRefusal::Invalid`]), or past its expiry.
pub fn verify(key: &[u8; 32], token: &str, now: OffsetDateTime) -> Result<SurveyId, LinkRefusal> {
    if token.len() > 64 {
        return Err(LinkRefusal::Invalid);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| LinkRefusal::Invalid)?;
    if bytes.len() != TOKEN_BYTES {
        return Err(LinkRefusal::Invalid);
    }
    let (payload, tag) = bytes.split_at(16 + 8);
    mac(key, payload).verify_truncated_left(tag).map_err(|_| LinkRefusal::Invalid)?;
    let mut expiry = [0u8; 8];
    expiry.copy_from_slice(&payload[16..]);
    if i64::from_be_bytes(expiry) <= now.unix_timestamp() {
        return Err(LinkRefusal::Expired);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&payload[..16]);
    uuid_to_survey(id).ok_or(LinkRefusal::Invalid)
}

fn uuid_to_survey(bytes: [u8; 16]) -> Option<SurveyId> {
    // Through the text form: the id type is built by parsing.
    let uuid = uuid_text(bytes);
    uuid.parse().ok()
}

fn uuid_text(b: [u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Routing's hook: every resolution is surveyed in the background. Held weakly (the surveys
/// hold ingest, which holds routing; the hub's state holds the surveys).
#[derive(Debug)]
pub struct OnResolved(pub std::sync::Weak<Csat>);

impl ResolvedHook for OnResolved {
    fn resolved(&self, ticket: &Ticket) {
        let Some(me) = self.0.upgrade() else { return };
        let ticket = ticket.clone();
        tokio::spawn(async move {
            if let Err(e) = me.invite(&ticket).await {
                tracing::error!(error = %e, ticket_id = %ticket.id, "the satisfaction survey was not sent");
            }
        });
    }
}

/// How report buckets are cut, in the report's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    /// Weeks start on Monday.
    Week,
}

/// What a CSAT report is asked for.
#[derive(Clone, Debug)]
pub struct ReportQuery {
    pub filter: CsatFilter,
    /// Only surveys of the team's members, sent while they were in it.
    pub team: Option<schema::TeamName>,
    pub tz: jiff::tz::TimeZone,
    pub bucket: Bucket,
    /// Comments after this survey (the last of the previous page).
    pub after: Option<SurveyId>,
    pub limit: u32,
}

/// Counts of one group of surveys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: i64,
    pub answered: i64,
    /// Answers by score: index 0 is score 1.
    pub distribution: [i64; 5],
}

impl Counts {
    pub(crate) fn add(&mut self, score: Option<Score>, n: i64) {
        self.sent += n;
        if let Some(s) = score {
            self.answered += n;
            self.distribution[usize::from(s.get() - 1)] += n;
        }
    }

    /// Answered over sent (`None` when none was sent).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn response_rate(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.answered as f64 / self.sent as f64)
    }

    /// The mean score (`None` without answers).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn average(&self) -> Option<f64> {
        let total: i64 = self.distribution.iter().zip(1..).map(|(n, s)| n * s).sum();
        (self.answered > 0).then(|| total as f64 / self.answered as f64)
    }

    /// The share of answers that are 4 or 5 (the usual CSAT figure; `None` without answers).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn satisfied_share(&self) -> Option<f64> {
        (self.answered > 0).then(|| (self.distribution[3] + self.distribution[4]) as f64 / self.answered as f64)
    }
}

/// A CSAT report.
#[derive(Clone, Debug, Default)]
pub struct CsatReport {
    pub total: Counts,
    /// By bucket start (in the report's time zone), in order.
    pub buckets: Vec<(jiff::Zoned, Counts)>,
    pub agents: Vec<(Option<AgentId>, Counts)>,
    pub comments: Vec<Survey>,
}

/// Totals and buckets from slot counts: each 15-minute slot falls wholly in one hour, day or
/// week of any IANA zone (their offsets are whole quarters of an hour).
fn aggregate(slots: &[CsatSlot], tz: jiff::tz::TimeZone, bucket: Bucket) -> CsatReport {
    let mut total = Counts::default();
    let mut buckets: BTreeMap<jiff::Timestamp, (jiff::Zoned, Counts)> = BTreeMap::new();
    for slot in slots {
        total.add(slot.score, slot.count);
        let Ok(at) = jiff::Timestamp::from_millisecond(slot.slot_start_ms) else { continue };
        let Some(start) = bucket_start(&at.to_zoned(tz.clone()), bucket) else { continue };
        buckets
            .entry(start.timestamp())
            .or_insert_with(|| (start.clone(), Counts::default()))
            .1
            .add(slot.score, slot.count);
    }
    CsatReport { total, buckets: buckets.into_values().collect(), ..CsatReport::default() }
}

/// The start of the bucket holding `at`, in `at`'s zone (a day starting at 01:00 after a DST
/// gap starts there).
#[must_use]
pub fn bucket_start(at: &jiff::Zoned, bucket: Bucket) -> Option<jiff::Zoned> {
    use jiff::Unit;
    match bucket {
        Bucket::Hour => at.round(jiff::ZonedRound::new().smallest(Unit::Hour).mode(jiff::RoundMode::Floor)).ok(),
        Bucket::Day => at.start_of_day().ok(),
        Bucket::Week => {
            let back = i64::from(at.weekday().to_monday_zero_offset());
            at.start_of_day().ok()?.checked_sub(jiff::Span::new().days(back)).ok()?.start_of_day().ok()
        }
    }
}

fn per_agent(rows: &[schema::csat::CsatAgentCount]) -> Vec<(Option<AgentId>, Counts)> {
    let mut out: Vec<(Option<AgentId>, Counts)> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some((agent, counts)) if *agent == row.agent_id => counts.add(row.score, row.count),
            _ => {
                let mut counts = Counts::default();
                counts.add(row.score, row.count);
                out.push((row.agent_id, counts));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_that_are_scores() {
        let s = |n: u8| Score::try_from(n).unwrap();
        assert_eq!(parse_reply("4"), Some((s(4), "")));
        assert_eq!(parse_reply(" 5 great, thanks "), Some((s(5), "great, thanks")));
        assert_eq!(parse_reply("3/5 - slow"), Some((s(3), "slow")));
        assert_eq!(parse_reply("1!\nquoted mail"), Some((s(1), "")));
        assert_eq!(parse_reply("45"), None);
        assert_eq!(parse_reply("6"), None);
        assert_eq!(parse_reply("0"), None);
        assert_eq!(parse_reply("2nd time I write"), None);
        assert_eq!(parse_reply("hello"), None);
        assert_eq!(parse_reply(""), None);
    }

    #[test]
    fn buckets_follow_the_zone_across_dst() {
        let tz = jiff::tz::TimeZone::get("Europe/Madrid").unwrap();
        // 2026-03-29: clocks go from 02:00 to 03:00 in Madrid (01:00 UTC).
        let before = jiff::Timestamp::from_second(1_774_742_400).unwrap().to_zoned(tz.clone()); // 00:00 UTC = 01:00 CET
        let after = jiff::Timestamp::from_second(1_774_749_600).unwrap().to_zoned(tz.clone()); // 02:00 UTC = 04:00 CEST
        let day = |z: &jiff::Zoned| bucket_start(z, Bucket::Day).unwrap();
        assert_eq!(day(&before), day(&after));
        assert_eq!(day(&before).to_string(), "2026-03-29T00:00:00+01:00[Europe/Madrid]");
        assert_eq!(bucket_start(&after, Bucket::Hour).unwrap().to_string(), "2026-03-29T04:00:00+02:00[Europe/Madrid]");
        // A Sunday belongs to the week that started the Monday before.
        assert_eq!(bucket_start(&after, Bucket::Week).unwrap().to_string(), "2026-03-23T00:00:00+01:00[Europe/Madrid]");
    }

    #[test]
    fn tokens_are_signed_and_expire() {
        let key = [7u8; 32];
        let now = OffsetDateTime::now_utc();
        let id = SurveyId::new();
        let token = sign(&key, id, now + Duration::from_secs(3600));
        assert_eq!(verify(&key, &token, now), Ok(id));
        // Another key, an altered byte, a truncated or padded token: forged.
        assert_eq!(verify(&[8u8; 32], &token, now), Err(LinkRefusal::Invalid));
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[3] ^= 1;
        let altered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(verify(&key, &altered, now), Err(LinkRefusal::Invalid));
        assert_eq!(verify(&key, &token[..token.len() - 2], now), Err(LinkRefusal::Invalid));
        assert_eq!(verify(&key, &format!("{token}AA"), now), Err(LinkRefusal::Invalid));
        assert_eq!(verify(&key, "not a token!", now), Err(LinkRefusal::Invalid));
        assert_eq!(verify(&key, &"A".repeat(10_000), now), Err(LinkRefusal::Invalid));
        // A later expiry written into the token breaks its signature; the real one expires.
        let mut later = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
        later[16 + 7] = later[16 + 7].wrapping_add(1);
        let later = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&later);
        assert_eq!(verify(&key, &later, now), Err(LinkRefusal::Invalid));
        assert_eq!(verify(&key, &token, now + Duration::from_secs(3600)), Err(LinkRefusal::Expired));
    }

    #[test]
    fn counts_and_rates() {
        let mut c = Counts::default();
        c.add(None, 2);
        c.add(Some(Score::try_from(5u8).unwrap()), 1);
        c.add(Some(Score::try_from(2u8).unwrap()), 1);
        assert_eq!((c.sent, c.answered), (4, 2));
        assert_eq!(c.response_rate(), Some(0.5));
        assert_eq!(c.average(), Some(3.5));
        assert_eq!(c.satisfied_share(), Some(0.5));
    }
}
