//! Outages and line diagnostics: the incident feed (staff enter incidents; Prometheus
//! Alertmanager's webhook opens, updates and resolves them by alert fingerprint), who an
//! incident concerns (customers whose BSS address is in its area), what they are told (the bot
//! answers outage questions from live incidents, banners in the widget and the workspace, a
//! proactive message in every open conversation in the area when an incident opens and when it
//! resolves), bulk resolution of the tickets tagged with it, and line tests through the BSS.
//!
//! A customer's area is the postcode of their linked BSS customer's address
//! (`bss.customer(..).address.postcode`). The proactive messages go through [`Ingest`] as bot
//! messages keyed `incident:<id>:<phase>`, so each reaches every channel the normal way and a
//! second notice of the same phase to the same conversation is a no-op.

mod alertmanager;
pub mod ask;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use schema::incidents::{
    CellId, Diagnostic, DiagnosticMeasure, DiagnosticVerdict, Incident, IncidentContent, IncidentFilter,
    IncidentSource, IncidentStatus, IncidentText, Postcode, ServiceKind,
};
use schema::{
    Actor, Agent, AuthorKind, ChannelMessageId, Conversation, CustomerId, DiagnosticId, IncidentId, Language,
    MessageText, NewMessage, Ticket, TicketEvent, TicketId, TicketStatus,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::bus::Event;
use crate::config::OutagesConfig;
use crate::error::Error;
use crate::services::Core;
use crate::services::ingest::Ingest;
use crate::services::routing::Routing;
use crate::services::staff::{Unheld, may_act_on};

/// Most tickets one bulk resolution closes (call again for more).
const MAX_BULK: u32 = 500;
/// Longest proactive message, in characters.
const MAX_NOTICE_CHARS: usize = 4_000;

/// The two moments customers in the area are told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Opened,
    Resolved,
}

impl Phase {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Resolved => "resolved",
        }
    }
}

/// An incident as staff write it; on an update, `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct IncidentInput {
    pub title: Option<String>,
    pub description: Option<String>,
    /// Per language (`en`, `es`, `pt`): (title, description).
    pub texts: Option<BTreeMap<String, (String, String)>>,
    pub services: Option<Vec<String>>,
    pub postcodes: Option<Vec<String>>,
    pub cells: Option<Vec<String>>,
    pub status: Option<String>,
    pub started_at: Option<OffsetDateTime>,
    /// `Some(None)` clears it.
    pub eta: Option<Option<OffsetDateTime>>,
}

/// What an Alertmanager call did.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct AlertOutcome {
    /// Incidents opened by firing alerts.
    pub opened: Vec<IncidentId>,
    /// Incidents a firing alert updated (a redelivery included).
    pub updated: Vec<IncidentId>,
    /// Incidents resolved by resolved alerts.
    pub resolved: Vec<IncidentId>,
    /// Alerts less severe than `severity_min`, or resolved with no incident: nothing done.
    pub ignored: usize,
}

/// The incident feed and line tests.
pub struct Outages {
    core: Core,
    ingest: Arc<Ingest>,
    routing: Arc<Routing>,
    bss: Arc<dyn bss::Bss>,
    config: OutagesConfig,
    /// The token's digest: compared in constant time, never kept in clear beyond the config.
    token: Option<[u8; 32]>,
    per_source: DefaultKeyedRateLimiter<Option<IpAddr>>,
}

impl std::fmt::Debug for Outages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outages").field("bss", &self.bss).finish_non_exhaustive()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn parse_set<T: std::str::FromStr<Err = schema::ValidationError> + Ord>(
    raw: Vec<String>,
    max: usize,
    field: &'static str,
) -> Result<BTreeSet<T>, Error> {
    if raw.len() > max {
        return Err(Error::invalid(field, format!("at most {max}")));
    }
    Ok(raw.iter().map(|s| s.parse()).collect::<Result<_, _>>()?)
}

impl Outages {
    /// The service over its collaborators; `bss` is the operator's billing system (in its
    /// resilience wrapper).
    #[must_use]
    pub fn new(
        core: Core,
        ingest: Arc<Ingest>,
        routing: Arc<Routing>,
        bss: Arc<dyn bss::Bss>,
        config: OutagesConfig,
    ) -> Self {
        let token = config
            .alertmanager_token
            .as_ref()
            .filter(|t| !t.expose().is_empty())
            .map(|t| digest(t.expose().as_bytes()));
        let rate = config.webhook_rate_per_min;
        let per_source = RateLimiter::keyed(Quota::per_minute(nonzero(rate)).allow_burst(nonzero((rate / 3).max(5))));
        Self { core, ingest, routing, bss, config, token, per_source }
    }

    /// The largest webhook body accepted.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    // ---- staff: the feed -----------------------------------------------------------------------

    /// Incidents, newest start first: the live ones, or all (at most `limit`).
    ///
    /// # Errors
    /// The store fails.
    pub async fn list(&self, all: bool, limit: u32) -> Result<Vec<Incident>, Error> {
        let filter = if all { IncidentFilter::All } else { IncidentFilter::Live };
        Ok(self.core.store.incidents(filter, limit).await?)
    }

    /// One incident.
    ///
    /// # Errors
    /// Unknown (404), or the store fails.
    pub async fn get(&self, id: IncidentId) -> Result<Incident, Error> {
        Ok(self.core.store.incident(id).await?)
    }

    fn content(input: IncidentInput, base: Option<&IncidentContent>) -> Result<IncidentContent, Error> {
        let text = match (input.title, input.description, base) {
            (None, None, Some(b)) => b.text.clone(),
            (title, description, b) => {
                let title = title.or_else(|| b.map(|b| b.text.title.clone())).unwrap_or_default();
                let description = description.or_else(|| b.map(|b| b.text.description.clone())).unwrap_or_default();
                IncidentText::new(&title, &description)?
            }
        };
        let texts = match input.texts {
            None => base.map(|b| b.texts.clone()).unwrap_or_default(),
            Some(raw) => {
                let mut texts = BTreeMap::new();
                for (language, (title, description)) in raw {
                    let language: Language = language.parse()?;
                    texts.insert(language, IncidentText::new(&title, &description)?);
                }
                texts
            }
        };
        let services = match input.services {
            None => base.map(|b| b.services.clone()).unwrap_or_default(),
            Some(raw) => parse_set::<ServiceKind>(raw, ServiceKind::ALL.len(), "services")?,
        };
        let postcodes = match input.postcodes {
            None => base.map(|b| b.postcodes.clone()).unwrap_or_default(),
            Some(raw) => parse_set::<Postcode>(raw, schema::incidents::MAX_POSTCODES, "postcodes")?,
        };
        let cells = match input.cells {
            None => base.map(|b| b.cells.clone()).unwrap_or_default(),
            Some(raw) => parse_set::<CellId>(raw, schema::incidents::MAX_CELLS, "cells")?,
        };
        let status = match input.status {
            Some(s) => s.parse()?,
            None => base.map_or(IncidentStatus::Investigating, |b| b.status),
        };
        let started_at = input.started_at.or(base.map(|b| b.started_at)).unwrap_or_else(OffsetDateTime::now_utc);
        let eta = match input.eta {
            Some(eta) => eta,
            None => base.and_then(|b| b.eta),
        };
        if eta.is_some_and(|eta| eta < started_at) {
            return Err(Error::invalid("eta", "the ETA is before the start"));
        }
        let content = IncidentContent { text, texts, services, postcodes, cells, status, started_at, eta };
        content.check()?;
        Ok(content)
    }

    /// A new incident entered by staff; customers in the area are told (in the background) if
    /// it is live.
    ///
    /// # Errors
    /// A field does not validate (422), or the store fails.
    pub async fn create(self: &Arc<Self>, staff: &Agent, input: IncidentInput) -> Result<Incident, Error> {
        let content = Self::content(input, None)?;
        let incident = self.core.store.create_incident(&content, IncidentSource::Staff, None, Some(staff.id)).await?;
        tracing::info!(incident_id = %incident.id, by = %staff.id, status = %incident.content.status, "incident created");
        if incident.content.status.is_live() {
            self.spawn_notify(incident.id, Phase::Opened);
        }
        Ok(incident)
    }

    /// Changes an incident (only the fields given); resolving it tells customers in the area.
    ///
    /// # Errors
    /// Unknown (404), a field does not validate (422), or the store fails.
    pub async fn update(
        self: &Arc<Self>,
        staff: &Agent,
        id: IncidentId,
        input: IncidentInput,
    ) -> Result<(Incident, Incident), Error> {
        let before = self.core.store.incident(id).await?;
        let content = Self::content(input, Some(&before.content))?;
        let after = self.core.store.update_incident(id, &content).await?;
        tracing::info!(incident_id = %id, by = %staff.id, status = %after.content.status, "incident changed");
        self.after_change(&before, &after);
        Ok((before, after))
    }

    fn after_change(self: &Arc<Self>, before: &Incident, after: &Incident) {
        match (before.content.status.is_live(), after.content.status.is_live()) {
            (true, false) => self.spawn_notify(after.id, Phase::Resolved),
            (false, true) => self.spawn_notify(after.id, Phase::Opened),
            _ => {}
        }
    }

    // ---- Alertmanager --------------------------------------------------------------------------

    /// One Alertmanager webhook call: the bearer token checked, the caller's rate, the body
    /// parsed and every alert mapped before anything is written; then each firing alert opens
    /// or updates the incident of its fingerprint, each resolved one resolves it.
    ///
    /// # Errors
    /// No token configured or a wrong one (401), over the rate (429), a malformed body
    /// (400), an alert whose labels do not map (422 naming the label), or the store fails.
    pub async fn alertmanager(
        self: &Arc<Self>,
        bearer: Option<&str>,
        source: Option<IpAddr>,
        body: &[u8],
    ) -> Result<AlertOutcome, Error> {
        let Some(expected) = &self.token else {
            return Err(Error::Unauthorized("the Alertmanager webhook is off: set outages.alertmanager_token".into()));
        };
        if self.per_source.check_key(&source).is_err() {
            return Err(Error::TooManyRequests("too many webhook calls from this address".into()));
        }
        let given = bearer.map(|b| digest(b.as_bytes()));
        // Digests of equal length: comparing them leaks nothing about the token.
        let ok = given.is_some_and(|g| g.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0);
        if !ok {
            tracing::warn!(source = ?source, "Alertmanager webhook with a wrong token");
            return Err(Error::Unauthorized("a wrong or missing Alertmanager bearer token".into()));
        }
        let payload = alertmanager::parse(body, self.config.max_alerts)?;
        let mut mapped = Vec::with_capacity(payload.alerts.len());
        let mut outcome = AlertOutcome::default();
        for (i, alert) in payload.alerts.iter().enumerate() {
            match alertmanager::map(i, alert, &self.config.alertmanager)? {
                Some(m) => mapped.push(m),
                None => outcome.ignored += 1,
            }
        }
        for m in mapped {
            self.apply_alert(m, &mut outcome).await?;
        }
        let counts = [
            ("opened", outcome.opened.len()),
            ("updated", outcome.updated.len()),
            ("resolved", outcome.resolved.len()),
            ("ignored", outcome.ignored),
        ];
        for (label, n) in counts {
            self.core.metrics.alerts.with_label_values(&[label]).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
        tracing::info!(
            group_key = %payload.group_key,
            opened = outcome.opened.len(),
            updated = outcome.updated.len(),
            resolved = outcome.resolved.len(),
            ignored = outcome.ignored,
            "Alertmanager webhook"
        );
        Ok(outcome)
    }

    async fn apply_alert(self: &Arc<Self>, m: alertmanager::Mapped, outcome: &mut AlertOutcome) -> Result<(), Error> {
        let store = &self.core.store;
        let existing = store.incident_by_fingerprint(&m.fingerprint).await?;
        let mut content = IncidentContent {
            text: m.text,
            texts: m.texts,
            services: m.services,
            postcodes: m.postcodes,
            cells: m.cells,
            status: if m.firing { IncidentStatus::Investigating } else { IncidentStatus::Resolved },
            started_at: m.started_at,
            eta: m.eta,
        };
        match existing {
            None if !m.firing => outcome.ignored += 1,
            None => {
                let created =
                    store.create_incident(&content, IncidentSource::Alertmanager, Some(&m.fingerprint), None).await;
                let incident = match created {
                    Ok(incident) => incident,
                    // Another node stored the same alert meanwhile: that one stands.
                    Err(schema::StoreError::Conflict(_)) => {
                        outcome.updated.extend(store.incident_by_fingerprint(&m.fingerprint).await?.map(|i| i.id));
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
                tracing::info!(incident_id = %incident.id, fingerprint = %m.fingerprint, "incident opened by Alertmanager");
                outcome.opened.push(incident.id);
                self.spawn_notify(incident.id, Phase::Opened);
            }
            Some(before) => {
                // A firing redelivery keeps the status staff gave it (identified, monitoring).
                if m.firing && before.content.status.is_live() {
                    content.status = before.content.status;
                }
                if content.eta.is_none() {
                    content.eta = before.content.eta;
                }
                if content.texts.is_empty() {
                    content.texts.clone_from(&before.content.texts);
                }
                if content == before.content {
                    if m.firing {
                        outcome.updated.push(before.id);
                    } else {
                        outcome.resolved.push(before.id);
                    }
                    return Ok(());
                }
                let after = store.update_incident(before.id, &content).await?;
                if m.firing {
                    outcome.updated.push(after.id);
                } else {
                    outcome.resolved.push(after.id);
                }
                self.after_change(&before, &after);
            }
        }
        Ok(())
    }

    // ---- who is in the area --------------------------------------------------------------------

    /// The postcode of a BSS customer's address, if the BSS knows one.
    async fn postcode_of_bss(&self, bss_id: &str) -> Result<Option<Postcode>, Error> {
        let Ok(reference) = bss::CustomerRef::parse(bss_id) else { return Ok(None) };
        match self.bss.customer(&reference).await {
            Ok(customer) => Ok(customer.address.and_then(|a| a.postcode.parse().ok())),
            Err(bss::BssError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The postcode of our customer's linked BSS customer, if any.
    async fn postcode_of(&self, customer: CustomerId) -> Result<Option<Postcode>, Error> {
        match self.core.store.customer_bss_id(customer).await? {
            Some(bss_id) => self.postcode_of_bss(&bss_id).await,
            None => Ok(None),
        }
    }

    /// The live incidents where the customer is (their BSS address); none when the customer is
    /// not linked to the BSS or the BSS does not answer (a banner is not worth an error).
    ///
    /// # Errors
    /// Unknown customer (404), or the store fails.
    pub async fn for_customer(&self, customer: CustomerId) -> Result<Vec<Incident>, Error> {
        let postcode = match self.postcode_of(customer).await {
            Ok(p) => p,
            Err(Error::Bss(e)) if e.is_transient() => {
                tracing::warn!(%customer, error = %e, "no area for the banner: the billing system is unavailable");
                None
            }
            Err(e) => return Err(e),
        };
        match postcode {
            Some(p) => Ok(self.core.store.live_incidents_at(&[p], &[]).await?),
            None => Ok(Vec::new()),
        }
    }

    /// The live incidents for a conversation's customer (the workspace's banner).
    ///
    /// # Errors
    /// Unknown conversation (404), or the store fails.
    pub async fn for_conversation(&self, conversation: schema::ConversationId) -> Result<Vec<Incident>, Error> {
        let conversation = self.core.store.conversation(conversation).await?;
        self.for_customer(conversation.customer_id).await
    }

    // ---- proactive messages --------------------------------------------------------------------

    fn spawn_notify(self: &Arc<Self>, id: IncidentId, phase: Phase) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match this.notify(id, phase).await {
                Ok(told) => {
                    tracing::info!(incident_id = %id, phase = phase.as_str(), told, "customers in the area told")
                }
                Err(e) => {
                    tracing::error!(incident_id = %id, phase = phase.as_str(), error = %e, "cannot tell customers in the area")
                }
            }
        });
    }

    /// Tells every open conversation in the incident's area (its customer's BSS postcode) that
    /// the incident opened or resolved, once per incident, conversation and phase; tags the
    /// conversation's open ticket `incident:<id>`. Returns how many conversations were told now.
    ///
    /// # Errors
    /// The store fails (a conversation that cannot be told is logged and skipped).
    pub async fn notify(&self, id: IncidentId, phase: Phase) -> Result<usize, Error> {
        let incident = self.core.store.incident(id).await?;
        if incident.content.postcodes.is_empty() {
            return Ok(0);
        }
        let open = self.core.store.open_linked_conversations(self.config.notify_scan_limit).await?;
        let mut areas: HashMap<String, Option<Postcode>> = HashMap::new();
        let mut told = 0;
        for c in open {
            if !areas.contains_key(&c.bss_customer_id) {
                let postcode = match self.postcode_of_bss(&c.bss_customer_id).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, bss_customer = %c.bss_customer_id, "no area for a customer");
                        None
                    }
                };
                areas.insert(c.bss_customer_id.clone(), postcode);
            }
            let inside = areas
                .get(&c.bss_customer_id)
                .and_then(Option::as_ref)
                .is_some_and(|p| incident.content.postcodes.contains(p));
            if !inside {
                continue;
            }
            match self.tell(&incident, c.conversation_id, c.language, phase).await {
                Ok(true) => {
                    told += 1;
                    self.core.metrics.outage_notices.with_label_values(&[phase.as_str()]).inc();
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, conversation_id = %c.conversation_id, "cannot tell a conversation")
                }
            }
        }
        Ok(told)
    }

    /// One notice; `false` when this conversation had it already.
    async fn tell(
        &self,
        incident: &Incident,
        conversation_id: schema::ConversationId,
        language: Language,
        phase: Phase,
    ) -> Result<bool, Error> {
        let text = notice(incident, language, phase);
        let key: ChannelMessageId = format!("incident:{}:{}", incident.id, phase.as_str()).parse()?;
        let appended = self
            .ingest
            .append(NewMessage {
                conversation_id,
                author: AuthorKind::Bot,
                author_id: None,
                text: MessageText::parse(&text, MAX_NOTICE_CHARS)?,
                channel_message_id: Some(key),
                media: Vec::new(),
                template: None,
            })
            .await?;
        if phase == Phase::Opened {
            self.tag_ticket(conversation_id, incident.id).await?;
        }
        Ok(appended.created)
    }

    /// Adds `incident:<id>` to the conversation's open ticket, if it has one.
    async fn tag_ticket(&self, conversation_id: schema::ConversationId, id: IncidentId) -> Result<(), Error> {
        let store = &self.core.store;
        let Some(ticket) = store.latest_ticket(conversation_id).await? else { return Ok(()) };
        if matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
            return Ok(());
        }
        let tag = incident_tag(id);
        if ticket.tags.contains(&tag) {
            return Ok(());
        }
        let mut tags = ticket.tags.clone();
        tags.insert(tag.clone());
        let line = TicketEvent {
            ticket_id: ticket.id,
            actor: Actor::System,
            kind: "tags_changed".into(),
            detail: serde_json::json!({ "to": tags, "incident": id }),
            at: OffsetDateTime::now_utc(),
        };
        let ticket = store.set_ticket_tags(ticket.id, &tags, &line).await?;
        self.core.bus.publish(Event::TicketUpdated { ticket });
        Ok(())
    }

    /// Resolves every open ticket tagged with the incident (at most 500 a call), as
    /// `supervisor`. Returns the tickets resolved.
    ///
    /// # Errors
    /// Unknown incident (404), or the store fails (tickets resolved before are resolved).
    pub async fn resolve_tickets(&self, supervisor: &Agent, id: IncidentId) -> Result<Vec<TicketId>, Error> {
        self.core.store.incident(id).await?;
        let tickets: Vec<Ticket> = self.core.store.open_tickets_tagged(&incident_tag(id), MAX_BULK).await?;
        let mut done = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            let ticket_id = ticket.id;
            match self.routing.finish(ticket, TicketStatus::Resolved, Actor::Agent(supervisor.id), "resolved").await {
                Ok(_) => done.push(ticket_id),
                // Resolved meanwhile by someone else: nothing left to do.
                Err(Error::Conflict(_) | Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(incident_id = %id, by = %supervisor.id, resolved = done.len(), "incident tickets resolved");
        Ok(done)
    }

    // ---- the bot's pre-check -------------------------------------------------------------------

    /// The bot's outage pre-check: when the customer's turn asks about an outage, the answer
    /// from the live incidents at the postcode they name or else at their address. `None`: not
    /// an outage question, or nothing known to say (the bot goes on as usual).
    ///
    /// # Errors
    /// The store fails.
    pub async fn bot_answer(&self, conversation: &Conversation, text: &str) -> Result<Option<String>, Error> {
        let ask = match ask::outage_question(text) {
            Some(ask) => ask,
            // "28013", right after the bot asked where: the question goes on.
            None => match ask::postcode_reply(text) {
                Some(postcode) if self.asked_where(conversation).await? => {
                    ask::Ask { language: None, postcode: Some(postcode) }
                }
                _ => return Ok(None),
            },
        };
        let language = ask.language.unwrap_or(conversation.language);
        let postcode = match ask.postcode {
            Some(p) => Some(p),
            None => self.postcode_of(conversation.customer_id).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, conversation_id = %conversation.id, "no area for the outage question");
                None
            }),
        };
        let Some(postcode) = postcode else { return Ok(Some(ask_postcode(language))) };
        let live = self.core.store.live_incidents_at(std::slice::from_ref(&postcode), &[]).await?;
        if live.is_empty() {
            // Nothing known there: the bot's articles may still help (troubleshooting).
            return Ok(None);
        }
        Ok(Some(answer(&live, &postcode, language)))
    }

    /// Whether the bot's last message in the conversation asked for the customer's postcode.
    async fn asked_where(&self, conversation: &Conversation) -> Result<bool, Error> {
        let recent = self.core.store.messages_after(conversation.id, (conversation.last_seq - 3).max(0), 3).await?;
        let asked = recent
            .iter()
            .rev()
            .find(|m| m.author == AuthorKind::Bot)
            .is_some_and(|m| Language::ALL.iter().any(|l| m.text.as_str() == ask_postcode(*l)));
        Ok(asked)
    }

    // ---- line diagnostics ----------------------------------------------------------------------

    /// Runs a line test on `product` through the BSS for a conversation (its assignee or a
    /// supervisor), keeps the result on the conversation's timeline, and adds it as a note to its
    /// open ticket.
    ///
    /// # Errors
    /// Not the assignee nor a supervisor (403), a bad product reference (422), no BSS or the BSS
    /// is unavailable (503 `bss_unavailable`), the BSS knows no such product (404
    /// `bss_not_found`), or the store fails.
    pub async fn diagnose(
        &self,
        agent: &Agent,
        conversation_id: schema::ConversationId,
        product: &str,
    ) -> Result<Diagnostic, Error> {
        let conversation = self.core.store.conversation(conversation_id).await?;
        may_act_on(agent, conversation.assignee_id, Unheld::Refuse)?;
        let product = bss::ProductRef::parse(product.trim()).map_err(|e| Error::invalid("product", e.to_string()))?;
        let test = self.bss.run_service_test(&product).await?;
        let verdict = match test.verdict {
            bss::TestVerdict::Pass => DiagnosticVerdict::Pass,
            bss::TestVerdict::Fail => DiagnosticVerdict::Fail,
            bss::TestVerdict::Inconclusive => DiagnosticVerdict::Inconclusive,
        };
        let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let diagnostic = Diagnostic {
            id: DiagnosticId::new(),
            conversation_id,
            product: product.as_str().to_owned(),
            test: test.id.as_str().to_owned(),
            verdict,
            summary: clip(&test.summary, 1_000),
            measures: test
                .measures
                .iter()
                .take(50)
                .map(|m| DiagnosticMeasure { name: clip(&m.name, 100), value: clip(&m.value, 200), ok: m.ok })
                .collect(),
            run_by: agent.id,
            finished_at: test.finished_at,
            created_at: crate::services::routing::to_time(crate::services::now_ms()),
        };
        self.core.store.record_diagnostic(&diagnostic).await?;
        tracing::info!(%conversation_id, product = %diagnostic.product, verdict = %verdict, by = %agent.id, "line test run");
        if let Some(ticket) = self.core.store.latest_ticket(conversation_id).await?
            && !matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed)
        {
            let note = schema::TicketNote {
                ticket_id: ticket.id,
                author_id: agent.id,
                text: diagnostic_note(&diagnostic),
                created_at: diagnostic.created_at,
            };
            self.core.store.add_ticket_note(&note).await?;
            self.core.bus.publish(Event::NoteAdded {
                ticket_id: ticket.id,
                conversation_id,
                author_id: agent.id,
                author_name: agent.name.clone(),
                text: note.text,
                created_at: note.created_at,
            });
        }
        Ok(diagnostic)
    }

    /// A conversation's line tests, newest first.
    ///
    /// # Errors
    /// Unknown conversation (404), or the store fails.
    pub async fn diagnostics(&self, conversation_id: schema::ConversationId) -> Result<Vec<Diagnostic>, Error> {
        self.core.store.conversation(conversation_id).await?;
        Ok(self.core.store.diagnostics(conversation_id).await?)
    }
}

/// The tag of the tickets about an incident.
#[must_use]
pub fn incident_tag(id: IncidentId) -> String {
    format!("incident:{id}")
}

fn diagnostic_note(d: &Diagnostic) -> String {
    let measures: Vec<String> =
        d.measures.iter().map(|m| format!("{}={}{}", m.name, m.value, if m.ok { "" } else { " (!)" })).collect();
    format!(
        "Line test on {}: {}. {} [{}]",
        d.product,
        d.verdict.as_str().to_uppercase(),
        d.summary,
        measures.join(", ")
    )
}

fn when(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// What customers in the area are told when an incident opens or resolves.
fn notice(incident: &Incident, language: Language, phase: Phase) -> String {
    let text = incident.content.text_in(language);
    let eta = incident.content.eta.map(when);
    let body = if text.description.is_empty() { String::new() } else { format!(" {}", text.description) };
    match (language, phase) {
        (Language::En, Phase::Opened) => format!(
            "Service notice: {}.{body} We are working on it{}. You do not need to report it.",
            text.title,
            eta.map(|e| format!(" and expect it fixed by {e}")).unwrap_or_default()
        ),
        (Language::Es, Phase::Opened) => format!(
            "Aviso de servicio: {}.{body} Estamos trabajando en ello{}. No hace falta que nos lo comuniques.",
            text.title,
            eta.map(|e| format!(" y prevemos resolverlo hacia {e}")).unwrap_or_default()
        ),
        (Language::Pt, Phase::Opened) => format!(
            "Aviso de serviço: {}.{body} Estamos a trabalhar na resolução{}. Não precisa de nos comunicar.",
            text.title,
            eta.map(|e| format!(" e prevemos resolvê-lo até {e}")).unwrap_or_default()
        ),
        (Language::En, Phase::Resolved) => {
            format!("Resolved: {}. Service is back to normal. If you still have trouble, tell us here.", text.title)
        }
        (Language::Es, Phase::Resolved) => format!(
            "Resuelto: {}. El servicio ha vuelto a la normalidad. Si sigues con problemas, dínoslo aquí.",
            text.title
        ),
        (Language::Pt, Phase::Resolved) => {
            format!("Resolvido: {}. O serviço voltou ao normal. Se ainda tiver problemas, diga-nos aqui.", text.title)
        }
    }
}

/// The bot's answer about live incidents at a postcode.
fn answer(live: &[Incident], postcode: &Postcode, language: Language) -> String {
    let lines: Vec<String> = live
        .iter()
        .take(3)
        .map(|i| {
            let text = i.content.text_in(language);
            let eta = i.content.eta.map(when);
            let mut line = format!("• {}", text.title);
            if !text.description.is_empty() {
                line.push_str(&format!(": {}", text.description));
            }
            if let Some(eta) = eta {
                line.push_str(&match language {
                    Language::En => format!(" (expected fix: {eta})"),
                    Language::Es => format!(" (solución prevista: {eta})"),
                    Language::Pt => format!(" (resolução prevista: {eta})"),
                });
            }
            line
        })
        .collect();
    let lines = lines.join("\n");
    match language {
        Language::En => format!(
            "Yes, there is a known incident affecting {postcode}:\n{lines}\nOur engineers are on it; you do not need to report it. We will tell you here when it is resolved."
        ),
        Language::Es => format!(
            "Sí, hay una incidencia conocida que afecta a {postcode}:\n{lines}\nNuestros técnicos ya están trabajando; no hace falta que nos lo comuniques. Te avisaremos aquí cuando se resuelva."
        ),
        Language::Pt => format!(
            "Sim, há uma avaria conhecida que afeta {postcode}:\n{lines}\nOs nossos técnicos já estão a trabalhar; não precisa de nos comunicar. Avisaremos aqui quando estiver resolvida."
        ),
    }
}

/// The bot asks where, when it knows neither a postcode in the turn nor the customer's address.
fn ask_postcode(language: Language) -> String {
    match language {
        Language::En => {
            "I can check for outages in your area: what is your postcode? (for example: outage 28013)".into()
        }
        Language::Es => {
            "Puedo comprobar si hay averías en tu zona: ¿cuál es tu código postal? (por ejemplo: avería 28013)".into()
        }
        Language::Pt => {
            "Posso verificar se há avarias na sua zona: qual é o seu código postal? (por exemplo: avaria 1000-001)"
                .into()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn notices_read_in_every_language() {
        let content = IncidentContent {
            text: IncidentText::new("Fibre outage in Madrid Centro", "A cut cable").unwrap(),
            texts: [(Language::Es, IncidentText::new("Avería de fibra en Madrid Centro", "Un cable cortado").unwrap())]
                .into_iter()
                .collect(),
            services: [ServiceKind::Fibre].into_iter().collect(),
            postcodes: ["28013".parse().unwrap()].into_iter().collect(),
            cells: BTreeSet::new(),
            status: IncidentStatus::Investigating,
            started_at: OffsetDateTime::UNIX_EPOCH,
            eta: Some(OffsetDateTime::UNIX_EPOCH + time::Duration::hours(3)),
        };
        let incident = Incident {
            id: IncidentId::new(),
            content,
            source: IncidentSource::Staff,
            fingerprint: None,
            resolved_at: None,
            created_by: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let es = notice(&incident, Language::Es, Phase::Opened);
        assert!(es.contains("Avería de fibra") && es.contains("1970-01-01 03:00 UTC"), "{es}");
        assert!(notice(&incident, Language::Pt, Phase::Resolved).contains("Fibre outage"), "neutral text fallback");
        let a = answer(std::slice::from_ref(&incident), &"28013".parse().unwrap(), Language::En);
        assert!(a.contains("28013") && a.contains("Fibre outage"), "{a}");
    }
}
