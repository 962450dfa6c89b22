//! Self-service through the bot: a customer who proves who they are with a one-time code gets
//! live answers from the billing system (balance and due date, this month's usage, the last bill
//! explained line by line, a plan change with confirmation, a payment arrangement within the
//! configured rules); without the code the bot discloses nothing about the account.
//!
//! The bot worker calls [`SelfService::turn`] before the `bot` crate decides a turn
//! (`services/bot.rs`). An account question (one of [`INTENTS`], recognised by the bot's intent
//! classifier) or a reply to a question asked here is handled; anything else goes on to the bot.
//!
//! Verification:
//! - the contacts offered are those the BSS knows for the conversation's linked BSS customer
//!   (masked: `j***@example.com`, `+34 *** *** 123`), or, when the customer is not linked, for the
//!   account they name (account number, phone or e-mail looked up with `Bss::find_customers`);
//!   the code goes only to a contact on that BSS customer, never to what the customer typed, and
//!   only to kinds of contact a sender is configured for;
//! - the code is 6 digits from the OS's CSPRNG, kept as a keyed SHA-256 digest (a per-code salt
//!   and the hub's code key) with its expiry; compared in constant time; at most
//!   `max_attempts` wrong codes, then verification is locked for the conversation and a person
//!   is offered; sends are limited per conversation and per destination;
//! - the customer's message carrying the code is stored with the digits masked (`••••••`,
//!   [`CodeInbox`], called by ingest before the message is stored); the code itself reaches the
//!   worker in memory only. It is never logged, never in `Debug`, never in the transcript;
//! - on success the conversation is verified for the BSS customer for `verified_minutes`, and a
//!   customer who was not linked is linked to that BSS customer.
//!
//! The state (what is awaited, the code's digest, verified until when) is stored per conversation
//! (`selfservice_sessions`), so it survives a restart and works the same on every channel.

mod senders;
pub mod texts;

use std::sync::Arc;

use bss::{
    AccountRef, Bss, BssError, ChangeKind, ContactKind, CustomerRef, Lookup, Money, NewOrder, NewPaymentArrangement,
    OfferingRef, OrderAction, OrderItem, PaymentKind, ProductRef, ProductStatus,
};
use rand::Rng;
use rand::rngs::OsRng;
use schema::{AuthorKind, Conversation, ConversationId, Language, MediaRef, Message, MessageText, NewMessage, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Duration as TimeDuration, OffsetDateTime};

pub use senders::{CodeSender, EmailCodes, HttpSms, Notice, mask, mask_email, mask_phone};

use crate::config::SelfServiceConfig;
use crate::error::Error;
use crate::services::bot::Assistant;
use crate::services::ingest::Ingest;

/// The intents self-service answers (the others go to the bot as before).
pub const INTENTS: [&str; 5] =
    ["account_balance", "account_usage", "bill_explain", "plan_change", "payment_arrangement"];

/// The media kind of the marker on the bot's "code sent" message (see docs/api.md).
pub const CODE_MEDIA_KIND: &str = "one_time_code";
/// Longest bot message, in characters.
const MAX_CHARS: usize = 20_000;
/// Most contacts offered, plans listed, products asked about.
const MAX_CONTACTS: usize = 4;
const MAX_OPTIONS: usize = 6;
const MAX_PRODUCTS: usize = 4;
/// Account look-ups a conversation may try before only a person can help.
const MAX_LOOKUPS: u32 = 3;
const MINUTE_MS: i64 = 60_000;

/// An account question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    AccountBalance,
    AccountUsage,
    BillExplain,
    PlanChange,
    PaymentArrangement,
}

impl Ask {
    #[must_use]
    pub fn from_intent(name: &str) -> Option<Self> {
        Some(match name {
            "account_balance" => Self::AccountBalance,
            "account_usage" => Self::AccountUsage,
            "bill_explain" => Self::BillExplain,
            "plan_change" => Self::PlanChange,
            "payment_arrangement" => Self::PaymentArrangement,
            _ => return None,
        })
    }

    #[must_use]
    pub fn intent(self) -> &'static str {
        match self {
            Self::AccountBalance => INTENTS[0],
            Self::AccountUsage => INTENTS[1],
            Self::BillExplain => INTENTS[2],
            Self::PlanChange => INTENTS[3],
            Self::PaymentArrangement => INTENTS[4],
        }
    }
}

/// A one-time code the customer typed, on its way from ingest to the bot worker. Its `Debug`
/// hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretCode(String);

impl std::fmt::Debug for SecretCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCode([redacted])")
    }
}

/// A contact offered: its kind and how it was shown (the value is read again from the BSS when
/// the code is sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Offered {
    kind: ContactKind,
    masked: String,
}

/// A plan change offered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PlanOption {
    product: ProductRef,
    product_name: String,
    account: AccountRef,
    offering: OfferingRef,
    offering_name: String,
    kind: ChangeKind,
    difference: Money,
    #[serde(with = "bss::iso_date")]
    effective: Date,
}

/// What a "yes" would do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Pending {
    Plan {
        option: PlanOption,
        external_id: String,
    },
    Arrangement {
        account: AccountRef,
        amount: Money,
        #[serde(with = "bss::iso_date")]
        pay_by: Date,
        external_id: String,
    },
}

/// What the bot waits for in the conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    #[default]
    Idle,
    /// The customer's account number, phone or e-mail (they are not linked to a BSS customer).
    AwaitingAccount,
    AwaitingContact {
        customer: CustomerRef,
        contacts: Vec<Offered>,
    },
    AwaitingCode {
        customer: CustomerRef,
        contacts: Vec<Offered>,
        sent_to: Offered,
        /// Hex: the per-code salt and `SHA-256(key ‖ conversation ‖ salt ‖ code)`.
        salt: String,
        digest: String,
        expires_at: i64,
        attempts: u32,
    },
    AwaitingPlan {
        customer: CustomerRef,
        options: Vec<PlanOption>,
    },
    AwaitingConfirmation {
        customer: CustomerRef,
        pending: Pending,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Verified {
    customer: CustomerRef,
    until: i64,
}

/// A conversation's self-service state, as stored (JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    #[serde(flatten)]
    step: Step,
    #[serde(default)]
    verified: Option<Verified>,
    #[serde(default)]
    locked_until: Option<i64>,
    /// Account look-ups that found nothing.
    #[serde(default)]
    lookups: u32,
    /// The question asked before verification, answered right after it.
    #[serde(default)]
    pending_ask: Option<Ask>,
}

impl Session {
    fn awaits_code(&self) -> bool {
        matches!(self.step, Step::AwaitingCode { .. })
    }
}

/// What the worker does with a turn after self-service saw it.
#[derive(Debug)]
pub enum Outcome {
    /// Answered here.
    Handled,
    /// Not an account matter: the bot decides as usual.
    NotMine,
    /// A person must take it (a payment arrangement outside the rules, no contact to verify
    /// with): the worker hands over through the one escalation path with this decision.
    HandOver(bot::Decision),
}

/// Where a customer's message goes through before it is stored: when the conversation awaits a
/// one-time code and the message carries one, the digits are masked in what is stored and the
/// code is handed to the bot worker in memory.
#[derive(Clone, Debug)]
pub struct CodeInbox {
    store: Store,
}

impl CodeInbox {
    #[must_use]
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Masks the code in `new` (a customer's message) when its conversation awaits one. Only
    /// messages with six digits reach the store here.
    ///
    /// # Errors
    /// The store fails, or the masked text does not validate.
    pub async fn take(&self, new: &mut NewMessage) -> Result<Option<SecretCode>, Error> {
        if new.author != AuthorKind::Customer {
            return Ok(None);
        }
        let Some(code) = find_code(new.text.as_str()) else { return Ok(None) };
        let awaits = match self.store.selfservice_state(new.conversation_id).await? {
            Some(json) => serde_json::from_str::<Session>(&json).is_ok_and(|s| s.awaits_code()),
            None => false,
        };
        if !awaits {
            return Ok(None);
        }
        let masked = mask_digits(new.text.as_str());
        new.text = MessageText::parse(&masked, masked.chars().count().max(1))?;
        Ok(Some(SecretCode(code)))
    }
}

/// The six digits of a one-time code in a message: the message's only digits (`123 456`,
/// `12-34-56` in a short message), or a run of exactly six digits in a longer one.
#[must_use]
pub fn find_code(text: &str) -> Option<String> {
    if text.len() > 200 {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 6 && text.chars().count() <= 40 {
        return Some(digits);
    }
    text.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 6).map(str::to_owned)
}

/// `text` with every digit replaced by `•`.
#[must_use]
pub fn mask_digits(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_digit() { '•' } else { c }).collect()
}

fn now_ms() -> i64 {
    crate::services::now_ms()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two equal-length byte strings are equal, looking at every byte whatever the first
/// difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Yes in the customer's words.
fn says_yes(text: &str) -> bool {
    let folded = bot_fold(text);
    let words: Vec<&str> = folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.len() <= 4
        && words.iter().any(|w| {
            matches!(*w, "yes" | "y" | "yeah" | "yep" | "confirm" | "si" | "vale" | "confirmo" | "sim" | "ok" | "okay")
        })
        && !says_no(text)
}

fn says_no(text: &str) -> bool {
    let folded = bot_fold(text);
    folded
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| matches!(w, "no" | "nope" | "cancel" | "cancelar" | "nao" | "stop" | "keep"))
}

fn asks_resend(text: &str) -> bool {
    let folded = bot_fold(text);
    [
        "resend",
        "new code",
        "another code",
        "reenviar",
        "reenvia",
        "otro codigo",
        "nuevo codigo",
        "novo codigo",
        "outro codigo",
    ]
    .iter()
    .any(|w| folded.contains(w))
}

fn bot_fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

/// A number from 1 to `count` that the message is (or starts with).
fn picked(text: &str, count: usize) -> Option<usize> {
    let t = text.trim().trim_end_matches(['.', ')']);
    let n: usize = t.parse().ok()?;
    (1..=count).contains(&n).then(|| n - 1)
}

/// The contact the customer chose: a number, or the kind named.
fn picked_contact(text: &str, contacts: &[Offered]) -> Option<usize> {
    if let Some(i) = picked(text, contacts.len()) {
        return Some(i);
    }
    let folded = bot_fold(text);
    let words: Vec<&str> = folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    let kind = if has(&["mail", "email", "e", "correo", "electronico"]) && !has(&["sms"]) {
        ContactKind::Email
    } else if has(&["sms", "phone", "mobile", "telefono", "movil", "telemovel", "texto", "text", "mensaje", "mensagem"])
    {
        ContactKind::Phone
    } else {
        return None;
    };
    contacts.iter().position(|c| c.kind == kind)
}

/// How a typed account reference is looked up: an e-mail address, a phone number (with `+` or
/// `00`), or an account number.
fn lookup_of(text: &str) -> Option<Lookup> {
    let t = text.trim();
    if t.is_empty() || t.len() > 80 {
        return None;
    }
    let token = t.split_whitespace().find(|w| w.contains('@')).map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()));
    if let Some(email) = token
        && email.contains('@')
    {
        return Some(Lookup::Email(email.to_lowercase()));
    }
    let compact: String = t.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    if let Some(rest) = compact.strip_prefix('+').or_else(|| compact.strip_prefix("00"))
        && (7..=15).contains(&rest.len())
        && rest.chars().all(|c| c.is_ascii_digit())
    {
        return Some(Lookup::Phone(format!("+{rest}")));
    }
    // The last word that reads as a reference ("my account is ACC-1001").
    t.split_whitespace()
        .rev()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .find(|w| w.chars().any(|c| c.is_ascii_digit()))
        .and_then(|w| AccountRef::parse(w).ok())
        .map(Lookup::Account)
}

/// A bot message queued by a turn: its text and media.
type Said = (MessageText, Vec<MediaRef>);

/// Self-service in the bot worker.
pub struct SelfService {
    store: Store,
    bss: Arc<dyn Bss>,
    assistant: Arc<Assistant>,
    ingest: Arc<Ingest>,
    senders: Vec<Arc<dyn CodeSender>>,
    config: SelfServiceConfig,
    /// The key every code digest is made with (kept sealed in the store, see `app.rs`).
    code_key: [u8; 32],
    /// Bot messages of the turns in progress, by conversation (see [`SelfService::flush`]).
    said: std::sync::Mutex<std::collections::HashMap<ConversationId, Vec<Said>>>,
}

impl std::fmt::Debug for SelfService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfService")
            .field("bss", &self.bss.name())
            .field("senders", &self.senders)
            .finish_non_exhaustive()
    }
}

impl SelfService {
    #[must_use]
    pub fn new(
        store: Store,
        bss: Arc<dyn Bss>,
        assistant: Arc<Assistant>,
        ingest: Arc<Ingest>,
        senders: Vec<Arc<dyn CodeSender>>,
        config: SelfServiceConfig,
        code_key: [u8; 32],
    ) -> Self {
        Self { store, bss, assistant, ingest, senders, config, code_key, said: std::sync::Mutex::default() }
    }

    fn sender(&self, kind: ContactKind) -> Option<&Arc<dyn CodeSender>> {
        self.senders.iter().find(|s| s.kind() == kind)
    }

    async fn load(&self, id: ConversationId) -> Result<Session, Error> {
        Ok(match self.store.selfservice_state(id).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::warn!(conversation_id = %id, error = %e, "unreadable self-service state: starting over");
                Session::default()
            }),
            None => Session::default(),
        })
    }

    async fn save(&self, id: ConversationId, session: &Session) -> Result<(), Error> {
        let json = serde_json::to_string(session).map_err(Error::internal)?;
        Ok(self.store.put_selfservice_state(id, &json).await?)
    }

    async fn say(&self, conversation: ConversationId, text: &str) -> Result<(), Error> {
        self.say_with(conversation, text, Vec::new()).await
    }

    /// Queues a bot message of this turn: they are appended once the turn's state is stored, so
    /// a customer who answers at once (a code typed the moment it is announced) always meets
    /// the state that expects the answer.
    #[allow(clippy::unused_async)]
    async fn say_with(&self, conversation: ConversationId, text: &str, media: Vec<MediaRef>) -> Result<(), Error> {
        let text = MessageText::parse(text, MAX_CHARS)?;
        self.said
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(conversation)
            .or_default()
            .push((text, media));
        Ok(())
    }

    /// Appends the messages this turn queued for the conversation.
    async fn flush(&self, conversation: ConversationId) -> Result<(), Error> {
        let queued = self.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&conversation);
        for (text, media) in queued.unwrap_or_default() {
            let new = NewMessage {
                conversation_id: conversation,
                author: AuthorKind::Bot,
                author_id: None,
                text,
                channel_message_id: None,
                media,
                template: None,
            };
            self.ingest.append(new).await?;
        }
        Ok(())
    }

    /// The account question the message asks, if any (by the bot's intent classifier).
    async fn ask_of(&self, text: &str, language: Language) -> Result<Option<Ask>, Error> {
        let bot = self.assistant.bot();
        let text = text.to_owned();
        let found = tokio::task::spawn_blocking(move || bot.detect_intent(&text, language))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        Ok(found.and_then(|m| Ask::from_intent(&m.name)))
    }

    /// One customer turn in a bot conversation; `code` is the one-time code ingest took out of
    /// the message, if any.
    ///
    /// # Errors
    /// The store fails.
    pub async fn turn(
        &self,
        conversation: &Conversation,
        message: &Message,
        code: Option<&SecretCode>,
    ) -> Result<Outcome, Error> {
        let outcome = self.decide(conversation, message, code).await;
        if outcome.is_err() {
            // Nothing half-said: the state was not stored, so neither are its messages.
            self.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&conversation.id);
            return outcome;
        }
        self.flush(conversation.id).await?;
        outcome
    }

    /// The turn's decision, its state stored and its messages queued.
    async fn decide(
        &self,
        conversation: &Conversation,
        message: &Message,
        code: Option<&SecretCode>,
    ) -> Result<Outcome, Error> {
        let text = message.text.as_str();
        if bot::asks_for_human(text) {
            return Ok(Outcome::NotMine);
        }
        let language = bot::detect_language(text).unwrap_or(conversation.language);
        let mut session = self.load(conversation.id).await?;
        let now = now_ms();
        let before = session.clone();
        if session.verified.as_ref().is_some_and(|v| v.until <= now) {
            session.verified = None;
        }
        if session.locked_until.is_some_and(|t| t <= now) {
            session.locked_until = None;
        }
        let step = std::mem::take(&mut session.step);
        let outcome = match step {
            Step::Idle => match self.ask_of(text, language).await? {
                Some(ask) => self.ask(conversation, &mut session, ask, language).await?,
                None => Outcome::NotMine,
            },
            Step::AwaitingAccount => self.on_account(conversation, &mut session, text, language).await?,
            Step::AwaitingContact { customer, contacts } => match picked_contact(text, &contacts) {
                Some(i) => self.send_code(conversation, &mut session, customer, contacts, i, language).await?,
                None => match self.ask_of(text, language).await? {
                    Some(ask) => {
                        session.pending_ask = Some(ask);
                        session.step = Step::AwaitingContact { customer, contacts: contacts.clone() };
                        self.say(conversation.id, &texts::choose_contact(language, &pairs(&contacts))).await?;
                        Outcome::Handled
                    }
                    None => Outcome::NotMine,
                },
            },
            Step::AwaitingCode { customer, contacts, sent_to, salt, digest, expires_at, attempts } => {
                if expires_at <= now {
                    session.step = Step::AwaitingContact { customer, contacts: contacts.clone() };
                    let text =
                        format!("{} {}", texts::expired(language), texts::choose_contact(language, &pairs(&contacts)));
                    self.say(conversation.id, &text).await?;
                    Outcome::Handled
                } else if let Some(code) = code {
                    let expected = self.digest(conversation.id, &salt, &code.0);
                    if constant_time_eq(expected.as_bytes(), digest.as_bytes()) {
                        self.verified(conversation, &mut session, customer, language).await?
                    } else {
                        let attempts = attempts + 1;
                        if attempts >= self.config.max_attempts {
                            session.locked_until = Some(now + i64::from(self.config.lockout_minutes) * MINUTE_MS);
                            session.pending_ask = None;
                            tracing::warn!(conversation_id = %conversation.id, "self-service verification locked after wrong codes");
                            self.say(conversation.id, texts::locked(language)).await?;
                        } else {
                            session.step =
                                Step::AwaitingCode { customer, contacts, sent_to, salt, digest, expires_at, attempts };
                            self.say(
                                conversation.id,
                                &texts::wrong_code(language, self.config.max_attempts - attempts),
                            )
                            .await?;
                        }
                        Outcome::Handled
                    }
                } else if asks_resend(text) {
                    session.step = Step::AwaitingContact { customer, contacts: contacts.clone() };
                    self.say(conversation.id, &texts::choose_contact(language, &pairs(&contacts))).await?;
                    Outcome::Handled
                } else {
                    let masked = sent_to.masked.clone();
                    session.step =
                        Step::AwaitingCode { customer, contacts, sent_to, salt, digest, expires_at, attempts };
                    match self.ask_of(text, language).await? {
                        Some(ask) => {
                            session.pending_ask = Some(ask);
                            self.say(conversation.id, &texts::type_the_code(language, &masked)).await?;
                            Outcome::Handled
                        }
                        None => Outcome::NotMine,
                    }
                }
            }
            Step::AwaitingPlan { customer, options } => {
                if let Some(i) = picked(text, options.len()) {
                    let option = options[i].clone();
                    let line = plan_line(&option);
                    self.say(conversation.id, &texts::confirm_plan(language, &line)).await?;
                    session.step = Step::AwaitingConfirmation {
                        customer,
                        pending: Pending::Plan { option, external_id: external_id(conversation.id) },
                    };
                    Outcome::Handled
                } else if says_no(text) {
                    self.say(conversation.id, texts::cancelled(language)).await?;
                    Outcome::Handled
                } else if let Some(ask) = self.ask_of(text, language).await? {
                    self.ask(conversation, &mut session, ask, language).await?
                } else {
                    session.step = Step::AwaitingPlan { customer, options: options.clone() };
                    self.say(conversation.id, &texts::pick_a_number(language, options.len())).await?;
                    Outcome::Handled
                }
            }
            Step::AwaitingConfirmation { customer, pending } => {
                if says_yes(text) {
                    if session.verified.as_ref().is_some_and(|v| v.customer == customer) {
                        self.carry_out(conversation, &customer, &pending, language).await?;
                        Outcome::Handled
                    } else {
                        // Verification ran out meanwhile: check again first.
                        self.ask(conversation, &mut session, pending_ask(&pending), language).await?
                    }
                } else if says_no(text) {
                    self.say(conversation.id, texts::cancelled(language)).await?;
                    Outcome::Handled
                } else {
                    match self.ask_of(text, language).await? {
                        Some(ask) => self.ask(conversation, &mut session, ask, language).await?,
                        None => {
                            self.say(conversation.id, texts::cancelled(language)).await?;
                            Outcome::NotMine
                        }
                    }
                }
            }
        };
        if session != before {
            self.save(conversation.id, &session).await?;
        }
        Ok(outcome)
    }

    /// An account question: answered when the conversation is verified, else verification
    /// starts (or the lock is explained).
    async fn ask(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        ask: Ask,
        language: Language,
    ) -> Result<Outcome, Error> {
        if let Some(v) = session.verified.clone() {
            return self.answer(conversation, session, &v.customer, ask, language).await;
        }
        if session.locked_until.is_some() {
            self.say(conversation.id, texts::locked(language)).await?;
            return Ok(Outcome::Handled);
        }
        session.pending_ask = Some(ask);
        match self.store.customer_bss_id(conversation.customer_id).await? {
            Some(id) => match CustomerRef::parse(&id) {
                Ok(customer) => self.offer_contacts(conversation, session, customer, language).await,
                Err(_) => {
                    tracing::warn!(customer_id = %conversation.customer_id, "the stored BSS customer id is not a valid reference");
                    session.step = Step::AwaitingAccount;
                    self.say(conversation.id, texts::ask_account(language)).await?;
                    Ok(Outcome::Handled)
                }
            },
            None => {
                session.step = Step::AwaitingAccount;
                self.say(conversation.id, texts::ask_account(language)).await?;
                Ok(Outcome::Handled)
            }
        }
    }

    /// The customer named their account: look it up, offer its contacts.
    async fn on_account(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        text: &str,
        language: Language,
    ) -> Result<Outcome, Error> {
        let Some(lookup) = lookup_of(text) else {
            // Not an account reference: maybe another question.
            return Ok(match self.ask_of(text, language).await? {
                Some(_) => {
                    session.step = Step::AwaitingAccount;
                    self.say(conversation.id, texts::ask_account(language)).await?;
                    Outcome::Handled
                }
                None => Outcome::NotMine,
            });
        };
        let found = match self.bss.find_customers(&lookup, 2).await {
            Ok(found) => found,
            Err(e) => return self.bss_failed(conversation, session, &e, language).await,
        };
        match found.as_slice() {
            [one] => self.offer_contacts(conversation, session, one.id.clone(), language).await,
            _ => {
                session.lookups += 1;
                if session.lookups >= MAX_LOOKUPS {
                    session.pending_ask = None;
                    self.say(conversation.id, texts::locked(language)).await?;
                    session.locked_until = Some(now_ms() + i64::from(self.config.lockout_minutes) * MINUTE_MS);
                } else {
                    session.step = Step::AwaitingAccount;
                    self.say(conversation.id, texts::account_not_found(language)).await?;
                }
                Ok(Outcome::Handled)
            }
        }
    }

    /// The BSS customer's contacts a code can be sent to (a sender configured for the kind),
    /// with their values.
    async fn contacts(&self, customer: &CustomerRef) -> Result<Vec<(Offered, String)>, BssError> {
        let bss_customer = self.bss.customer(customer).await?;
        let mut out: Vec<(Offered, String)> = Vec::new();
        let mut contacts = bss_customer.contacts;
        contacts.sort_by_key(|c| !c.preferred);
        for c in contacts {
            if self.sender(c.kind).is_none() {
                continue;
            }
            let offered = Offered { kind: c.kind, masked: mask(c.kind, &c.value) };
            if !out.iter().any(|(o, _)| *o == offered) && out.len() < MAX_CONTACTS {
                out.push((offered, c.value));
            }
        }
        Ok(out)
    }

    async fn offer_contacts(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        customer: CustomerRef,
        language: Language,
    ) -> Result<Outcome, Error> {
        let contacts = match self.contacts(&customer).await {
            Ok(c) => c,
            Err(e) => return self.bss_failed(conversation, session, &e, language).await,
        };
        if contacts.is_empty() {
            self.say(conversation.id, texts::no_contact(language)).await?;
            let summary = format!(
                "Self-service: the customer asked about their account ({}) but no contact on BSS customer {customer} can receive a one-time code here, so they are not verified.",
                session.pending_ask.map_or("account", Ask::intent)
            );
            return Ok(self.hand_over(session.pending_ask, language, summary));
        }
        let offered: Vec<Offered> = contacts.into_iter().map(|(o, _)| o).collect();
        self.say(conversation.id, &texts::choose_contact(language, &pairs(&offered))).await?;
        session.step = Step::AwaitingContact { customer, contacts: offered };
        Ok(Outcome::Handled)
    }

    fn digest(&self, conversation: ConversationId, salt: &str, code: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.code_key);
        h.update(conversation.to_string().as_bytes());
        h.update(salt.as_bytes());
        h.update(code.as_bytes());
        hex(&h.finalize())
    }

    async fn send_code(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        customer: CustomerRef,
        contacts: Vec<Offered>,
        chosen: usize,
        language: Language,
    ) -> Result<Outcome, Error> {
        let offered = contacts[chosen].clone();
        // The contact is read again from the BSS: the code goes only where the account says.
        let current = match self.contacts(&customer).await {
            Ok(c) => c,
            Err(e) => return self.bss_failed(conversation, session, &e, language).await,
        };
        let Some((_, value)) = current.into_iter().find(|(o, _)| *o == offered) else {
            return self.offer_contacts(conversation, session, customer, language).await;
        };
        let Some(sender) = self.sender(offered.kind) else {
            return self.offer_contacts(conversation, session, customer, language).await;
        };
        let destination = hex(&Sha256::digest(value.to_lowercase().as_bytes()));
        let since = now_ms() - i64::from(self.config.send_window_minutes) * MINUTE_MS;
        let (here, there) = self.store.selfservice_sends_since(conversation.id, &destination, since).await?;
        if here >= i64::from(self.config.max_sends_per_conversation)
            || there >= i64::from(self.config.max_sends_per_destination)
        {
            tracing::warn!(conversation_id = %conversation.id, "self-service code not sent: resend limit");
            self.say(conversation.id, texts::too_many_sends(language)).await?;
            session.step = Step::Idle;
            return Ok(Outcome::Handled);
        }
        let code = format!("{:06}", OsRng.gen_range(0..1_000_000u32));
        let mut salt = [0u8; 16];
        OsRng.fill(&mut salt);
        let salt = hex(&salt);
        let digest = self.digest(conversation.id, &salt, &code);
        let (subject, text) = texts::code_message(language, &code, self.config.code_ttl_minutes);
        let notice = Notice { subject, text };
        drop(code);
        // Counted before sending: a send that fails half-way still counts against the limits.
        self.store.record_selfservice_send(conversation.id, &destination).await?;
        if let Err(reason) = sender.send(&value, &notice).await {
            tracing::warn!(conversation_id = %conversation.id, kind = ?offered.kind, %reason, "self-service code not sent");
            session.step = Step::AwaitingContact { customer, contacts };
            self.say(conversation.id, texts::send_failed(language)).await?;
            return Ok(Outcome::Handled);
        }
        tracing::info!(conversation_id = %conversation.id, kind = ?offered.kind, "self-service code sent");
        // The marker lets the web chat show a code field (`autocomplete="one-time-code"`); every
        // channel reads the text alone.
        let marker = MediaRef {
            kind: CODE_MEDIA_KIND.to_owned(),
            reference: CODE_MEDIA_KIND.to_owned(),
            mime_type: None,
            file_name: None,
        };
        let text = texts::code_sent(language, &offered.masked, self.config.code_ttl_minutes);
        self.say_with(conversation.id, &text, vec![marker]).await?;
        session.step = Step::AwaitingCode {
            customer,
            contacts,
            sent_to: offered,
            salt,
            digest,
            expires_at: now_ms() + i64::from(self.config.code_ttl_minutes) * MINUTE_MS,
            attempts: 0,
        };
        Ok(Outcome::Handled)
    }

    /// The right code: verified, linked if not yet, and the question asked first answered.
    async fn verified(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        customer: CustomerRef,
        language: Language,
    ) -> Result<Outcome, Error> {
        session.verified = Some(Verified {
            customer: customer.clone(),
            until: now_ms() + i64::from(self.config.verified_minutes) * MINUTE_MS,
        });
        session.lookups = 0;
        tracing::info!(conversation_id = %conversation.id, "self-service: the customer is verified");
        if self.store.customer_bss_id(conversation.customer_id).await?.is_none() {
            match self.store.set_customer_bss_id(conversation.customer_id, Some(customer.as_str())).await {
                Ok(()) => {
                    tracing::info!(customer_id = %conversation.customer_id, "linked to the BSS customer after verification")
                }
                // Linked to another of our customers (the same person on another channel): the
                // conversation is verified all the same; agents merge customers.
                Err(e) => {
                    tracing::warn!(customer_id = %conversation.customer_id, error = %e, "not linked to the BSS customer")
                }
            }
        }
        match session.pending_ask.take() {
            Some(ask) => {
                self.say(conversation.id, texts::verified(language).trim_end()).await?;
                self.answer(conversation, session, &customer, ask, language).await
            }
            None => {
                self.say(conversation.id, texts::verified(language).trim_end()).await?;
                Ok(Outcome::Handled)
            }
        }
    }

    fn hand_over(&self, ask: Option<Ask>, language: Language, summary: String) -> Outcome {
        let intent = ask.map(|a| a.intent().to_owned());
        let mut skills = vec![("billing".to_owned(), 4)];
        skills.push((bot::language_skill(language).to_owned(), 5));
        Outcome::HandOver(bot::Decision::HandOver {
            reason: bot::HandOverReason::AlwaysHuman(intent.clone().unwrap_or_else(|| "selfservice".to_owned())),
            intent,
            language,
            skills,
            summary,
            message: bot::handover_message(language).to_owned(),
        })
    }

    async fn bss_failed(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        error: &BssError,
        language: Language,
    ) -> Result<Outcome, Error> {
        tracing::warn!(conversation_id = %conversation.id, error = %error, "self-service: the BSS failed");
        session.step = Step::Idle;
        self.say(conversation.id, texts::unavailable(language)).await?;
        Ok(Outcome::Handled)
    }

    /// Live data for a verified customer.
    async fn answer(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        customer: &CustomerRef,
        ask: Ask,
        language: Language,
    ) -> Result<Outcome, Error> {
        session.step = Step::Idle;
        let result = match ask {
            Ask::AccountBalance => self.balance(customer, language).await,
            Ask::AccountUsage => self.usage(customer, language).await,
            Ask::BillExplain => self.bill(customer, language).await,
            Ask::PlanChange => self.plans(conversation, session, customer, language).await,
            Ask::PaymentArrangement => self.arrangement(conversation, session, customer, language).await,
        };
        match result {
            Ok(Reply::Say(text)) => {
                self.say(conversation.id, &text).await?;
                Ok(Outcome::Handled)
            }
            Ok(Reply::HandOver(summary)) => Ok(self.hand_over(Some(ask), language, summary)),
            Err(e) => self.bss_failed(conversation, session, &e, language).await,
        }
    }

    async fn balance(&self, customer: &CustomerRef, language: Language) -> Result<Reply, BssError> {
        let accounts = self.bss.accounts(customer).await?;
        if accounts.is_empty() {
            return Ok(Reply::Say(texts::nothing_found(language).to_owned()));
        }
        Ok(Reply::Say(texts::balance(language, &accounts)))
    }

    async fn active_products(&self, customer: &CustomerRef) -> Result<Vec<bss::Product>, BssError> {
        let mut products = self.bss.products(customer).await?;
        products.retain(|p| p.status == ProductStatus::Active && p.parent.is_none());
        products.truncate(MAX_PRODUCTS);
        Ok(products)
    }

    async fn usage(&self, customer: &CustomerRef, language: Language) -> Result<Reply, BssError> {
        let mut usages = Vec::new();
        for p in self.active_products(customer).await? {
            match self.bss.usage(&p.id).await {
                Ok(u) if !u.meters.is_empty() => usages.push((p, u)),
                Ok(_) | Err(BssError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if usages.is_empty() {
            return Ok(Reply::Say(texts::nothing_found(language).to_owned()));
        }
        Ok(Reply::Say(texts::usage(language, &usages)))
    }

    async fn bill(&self, customer: &CustomerRef, language: Language) -> Result<Reply, BssError> {
        let mut latest: Option<bss::Bill> = None;
        for account in self.bss.accounts(customer).await? {
            if let Some(b) = self.bss.bills(&account.id, 1).await?.into_iter().next()
                && latest.as_ref().is_none_or(|l| b.issued > l.issued)
            {
                latest = Some(b);
            }
        }
        let Some(latest) = latest else { return Ok(Reply::Say(texts::nothing_found(language).to_owned())) };
        let bill = self.bss.bill(&latest.id).await?;
        Ok(Reply::Say(texts::bill(language, &bill)))
    }

    async fn plans(
        &self,
        _conversation: &Conversation,
        session: &mut Session,
        customer: &CustomerRef,
        language: Language,
    ) -> Result<Reply, BssError> {
        let mut options = Vec::new();
        for p in self.active_products(customer).await? {
            for c in self.bss.changes(&p.id).await? {
                if matches!(c.kind, ChangeKind::Upgrade | ChangeKind::Downgrade) && options.len() < MAX_OPTIONS {
                    options.push(PlanOption {
                        product: p.id.clone(),
                        product_name: p.name.clone(),
                        account: p.account.clone(),
                        offering: c.offering.id.clone(),
                        offering_name: c.offering.name.clone(),
                        kind: c.kind,
                        difference: c.price_difference,
                        effective: c.effective_date,
                    });
                }
            }
        }
        if options.is_empty() {
            return Ok(Reply::Say(texts::no_plan_options(language).to_owned()));
        }
        let lines: Vec<texts::PlanLine<'_>> = options.iter().map(plan_line).collect();
        let text = texts::plan_options(language, &lines);
        session.step = Step::AwaitingPlan { customer: customer.clone(), options };
        Ok(Reply::Say(text))
    }

    async fn arrangement(
        &self,
        conversation: &Conversation,
        session: &mut Session,
        customer: &CustomerRef,
        language: Language,
    ) -> Result<Reply, BssError> {
        let accounts = self.bss.accounts(customer).await?;
        let Some(account) = accounts.into_iter().find(|a| a.kind == PaymentKind::Postpaid && a.balance.minor > 0)
        else {
            return Ok(Reply::Say(texts::nothing_to_arrange(language).to_owned()));
        };
        let today = OffsetDateTime::now_utc().date();
        // How long the oldest unpaid bill is past its due date (none known while something is
        // overdue: treated as beyond the rules).
        let oldest_overdue = if account.overdue.minor > 0 {
            self.bss
                .bills(&account.id, 24)
                .await?
                .into_iter()
                .filter(|b| b.unpaid.minor > 0 && b.due < today)
                .map(|b| b.due)
                .min()
        } else {
            None
        };
        let overdue_days = match (account.overdue.minor > 0, oldest_overdue) {
            (false, _) => 0,
            (true, Some(due)) => (today - due).whole_days().max(0),
            (true, None) => i64::MAX,
        };
        if overdue_days > i64::from(self.config.arrangement_max_overdue_days) {
            let since = oldest_overdue.map_or_else(|| "an unknown date".to_owned(), texts::date);
            return Ok(Reply::HandOver(format!(
                "Self-service payment arrangement outside the rules: account {} has a balance of {} of which {} is overdue since {since} ({} days; the bot may arrange payment only up to {} days overdue, and at most {} days ahead). The customer was verified by a one-time code in this conversation ({}).",
                account.id,
                account.balance,
                account.overdue,
                if overdue_days == i64::MAX { "?".to_owned() } else { overdue_days.to_string() },
                self.config.arrangement_max_overdue_days,
                self.config.arrangement_max_days,
                conversation.id,
            )));
        }
        let pay_by = today + TimeDuration::days(i64::from(self.config.arrangement_max_days));
        let text = texts::confirm_arrangement(language, account.id.as_str(), &account.balance, pay_by);
        session.step = Step::AwaitingConfirmation {
            customer: customer.clone(),
            pending: Pending::Arrangement {
                account: account.id,
                amount: account.balance,
                pay_by,
                external_id: external_id(conversation.id),
            },
        };
        Ok(Reply::Say(text))
    }

    /// The customer said yes: the order or the arrangement, idempotent by its external id.
    async fn carry_out(
        &self,
        conversation: &Conversation,
        customer: &CustomerRef,
        pending: &Pending,
        language: Language,
    ) -> Result<(), Error> {
        let text = match pending {
            Pending::Plan { option, external_id } => {
                let order = NewOrder {
                    customer: customer.clone(),
                    account: option.account.clone(),
                    items: vec![OrderItem {
                        action: OrderAction::Modify,
                        product: Some(option.product.clone()),
                        offering: Some(option.offering.clone()),
                        requested_date: Some(option.effective),
                        reason: None,
                    }],
                    external_id: external_id.clone(),
                    note: format!(
                        "Plan change by the customer in self-service (conversation {}), verified by a one-time code",
                        conversation.id
                    ),
                };
                match self.bss.place_order(&order).await {
                    Ok(order) => {
                        tracing::info!(conversation_id = %conversation.id, order = %order.id, "self-service plan change ordered");
                        texts::plan_ordered(language, order.id.as_str(), option.effective)
                    }
                    Err(e) => {
                        tracing::warn!(conversation_id = %conversation.id, error = %e, "self-service plan change refused");
                        if e.is_transient() { texts::unavailable(language) } else { texts::could_not_place(language) }
                            .to_owned()
                    }
                }
            }
            Pending::Arrangement { account, amount, pay_by, external_id } => {
                let arrangement = NewPaymentArrangement {
                    account: account.clone(),
                    amount: *amount,
                    pay_by: *pay_by,
                    external_id: external_id.clone(),
                };
                match self.bss.arrange_payment(&arrangement).await {
                    Ok(done) => {
                        tracing::info!(conversation_id = %conversation.id, arrangement = %done.id, "self-service payment arrangement agreed");
                        texts::arranged(language, &done.amount, done.pay_by)
                    }
                    Err(e) => {
                        tracing::warn!(conversation_id = %conversation.id, error = %e, "self-service payment arrangement refused");
                        if e.is_transient() { texts::unavailable(language) } else { texts::could_not_place(language) }
                            .to_owned()
                    }
                }
            }
        };
        self.say(conversation.id, &text).await
    }
}

/// What an answer comes to.
enum Reply {
    Say(String),
    /// Outside the rules: a person takes it, with this summary.
    HandOver(String),
}

fn pairs(contacts: &[Offered]) -> Vec<(ContactKind, String)> {
    contacts.iter().map(|c| (c.kind, c.masked.clone())).collect()
}

fn plan_line(o: &PlanOption) -> texts::PlanLine<'_> {
    texts::PlanLine {
        product: &o.product_name,
        offering: &o.offering_name,
        kind: o.kind,
        difference: &o.difference,
        effective: o.effective,
    }
}

fn pending_ask(p: &Pending) -> Ask {
    match p {
        Pending::Plan { .. } => Ask::PlanChange,
        Pending::Arrangement { .. } => Ask::PaymentArrangement,
    }
}

/// The id that makes an order or arrangement idempotent: made when it is proposed, kept in the
/// state, so a retried "yes" (or one after a restart) places it once.
fn external_id(conversation: ConversationId) -> String {
    let mut nonce = [0u8; 6];
    OsRng.fill(&mut nonce);
    format!("ss-{}-{}", conversation.as_uuid().simple(), hex(&nonce))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_and_masked() {
        assert_eq!(find_code("123456").as_deref(), Some("123456"));
        assert_eq!(find_code("123 456").as_deref(), Some("123456"));
        assert_eq!(find_code("my code is 654321 thanks").as_deref(), Some("654321"));
        assert_eq!(find_code("12345"), None);
        assert_eq!(find_code("1234567"), None);
        assert_eq!(find_code("call me on +34 911 234 567 about order 99"), None);
        assert_eq!(mask_digits("code 123 456"), "code ••• •••");
    }

    #[test]
    fn a_secret_code_is_not_printed() {
        assert!(!format!("{:?}", SecretCode("123456".into())).contains("123456"));
    }

    #[test]
    fn replies_are_read() {
        assert!(says_yes("yes"));
        assert!(says_yes("Sí"));
        assert!(says_yes("sim, confirmo"));
        assert!(!says_yes("no"));
        assert!(!says_yes("yes but no"));
        assert!(says_no("não"));
        assert!(asks_resend("please resend"));
        assert!(asks_resend("¿me puedes reenviar el código?"));
        assert_eq!(picked("2", 3), Some(1));
        assert_eq!(picked("4", 3), None);
        let contacts = vec![
            Offered { kind: ContactKind::Email, masked: "j***@example.com".into() },
            Offered { kind: ContactKind::Phone, masked: "+34 *** *** 123".into() },
        ];
        assert_eq!(picked_contact("by sms please", &contacts), Some(1));
        assert_eq!(picked_contact("correo", &contacts), Some(0));
        assert_eq!(picked_contact("1", &contacts), Some(0));
        assert_eq!(picked_contact("e-mail", &contacts), Some(0));
        assert_eq!(picked_contact("in this context", &contacts), None);
    }

    #[test]
    fn account_references_are_read() {
        assert_eq!(lookup_of("jane@example.com"), Some(Lookup::Email("jane@example.com".into())));
        assert_eq!(lookup_of("+34 911 234 123"), Some(Lookup::Phone("+34911234123".into())));
        assert_eq!(lookup_of("0034911234123"), Some(Lookup::Phone("+34911234123".into())));
        assert!(matches!(lookup_of("my account is ACC-1001"), Some(Lookup::Account(a)) if a.as_str() == "ACC-1001"));
        assert_eq!(lookup_of("hello there"), None);
    }

    #[test]
    fn digests_compare_in_constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn the_state_round_trips_and_keeps_no_code() {
        let session = Session {
            step: Step::AwaitingCode {
                customer: CustomerRef::parse("CUST-1").unwrap_or_else(|e| unreachable!("{e}")),
                contacts: vec![],
                sent_to: Offered { kind: ContactKind::Email, masked: "j***@example.com".into() },
                salt: "00".into(),
                digest: "ff".into(),
                expires_at: 1,
                attempts: 2,
            },
            pending_ask: Some(Ask::AccountBalance),
            ..Session::default()
        };
        let json = serde_json::to_string(&session).unwrap_or_default();
        assert!(json.contains("\"step\":\"awaiting_code\""), "{json}");
        assert_eq!(serde_json::from_str::<Session>(&json).ok(), Some(session));
        assert_eq!(serde_json::from_str::<Session>("{\"step\":\"idle\"}").ok(), Some(Session::default()));
    }
}
