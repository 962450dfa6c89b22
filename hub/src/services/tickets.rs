//! Staff work on tickets and routing: hand-over on request, accept and reject offers, resolve,
//! wait for the customer, transfer, notes and tags (the assignee or a supervisor:
//! `staff::may_act_on`), agents'
//! routing profiles and presence, and the supervisors' rules (validated, versioned, dry-run).
//! The routing engine's bookkeeping is `routing`; this is who may do what, and with which input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use router::history::{HistoryComparison, HistoryTicket};
use router::rules::{Classification, RoutingRules, Sample};
use schema::{
    Actor, Agent, AgentId, AgentRouting, Capacity, Channel, ConversationId, CustomerTier, Language, Presence,
    QueueName, Role, RulesVersion, RulesVersionSummary, SkillLevel, SkillName, Ticket, TicketEvent, TicketId,
    TicketNote, TicketStatus,
};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bus::Event;
use crate::error::Error;
use crate::services::Core;
use crate::services::escalate::{Escalate, Escalation};
use crate::services::routing::{Routing, Transfer};
use crate::services::staff::{Unheld, may_act_on};

const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
const MAX_NOTE_CHARS: usize = 10_000;

/// Tags as given: trimmed, lower-cased, at most [`MAX_TAGS`] of at most [`MAX_TAG_CHARS`].
///
/// # Errors
/// Too many, empty, too long or with control characters (422).
pub fn tags(raw: Vec<String>) -> Result<BTreeSet<String>, Error> {
    if raw.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    raw.into_iter()
        .map(|t| {
            let t = t.trim().to_lowercase();
            if t.is_empty() || t.chars().count() > MAX_TAG_CHARS || t.chars().any(char::is_control) {
                Err(Error::invalid("tags", format!("a tag is 1 to {MAX_TAG_CHARS} printable characters")))
            } else {
                Ok(t)
            }
        })
        .collect()
}

/// The assignee, or a supervisor, may work on a ticket; nobody else, not even on a queued one.
fn may_work_on(agent: &Agent, ticket: &Ticket) -> Result<(), Error> {
    may_act_on(agent, ticket.assignee_id, Unheld::Refuse)
}

fn open(ticket: &Ticket) -> Result<(), Error> {
    if matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
        Err(Error::Conflict(format!("the ticket is {}", ticket.status)))
    } else {
        Ok(())
    }
}

/// Where a staff member wants a ticket transferred.
#[derive(Debug)]
pub enum TransferTo<'a> {
    Agent(AgentId),
    Queue(&'a str),
}

/// A ticket with its history and internal notes.
#[derive(Debug)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub events: Vec<TicketEvent>,
    pub notes: Vec<TicketNote>,
}

/// An agent's routing profile as given by a supervisor.
#[derive(Debug, Default)]
pub struct ProfileInput {
    /// Skill → level, 1 to 10.
    pub skills: BTreeMap<String, i64>,
    /// Channel → most tickets at once (0 to 20). `None`: the default capacity.
    pub capacity: Option<BTreeMap<String, i64>>,
    /// Channels whose work blocks every other (default: voice).
    pub exclusive: Option<Vec<String>>,
}

/// An agent's routing profile and presence.
#[derive(Debug)]
pub struct Profile {
    pub agent_id: AgentId,
    pub skills: BTreeMap<SkillName, SkillLevel>,
    pub capacity: Capacity,
    pub presence: Presence,
}

/// A sample conversation for a dry run, as given.
#[derive(Debug, Default)]
pub struct DryRunInput {
    pub channel: String,
    pub language: Option<String>,
    pub tier: Option<String>,
    pub tags: Vec<String>,
    pub text: String,
    pub at: Option<OffsetDateTime>,
    /// The customer's churn-risk score, 0 to 100 (`None`: unknown).
    pub churn_risk: Option<u8>,
    /// Rules to try instead of those in force (validated the same way).
    pub rules: Option<serde_json::Value>,
}

/// The longest window a dry run over history reads.
pub const HISTORY_MAX_HOURS: i64 = 168;
/// The most tickets a dry run over history reads (the newest of the window).
pub const HISTORY_MAX_TICKETS: u32 = 5_000;
/// The most moved ticket ids a dry run over history names.
pub const HISTORY_SAMPLE: usize = 20;

/// Draft rules compared with those in force over recent tickets.
#[derive(Debug)]
pub struct HistoryDryRun {
    pub hours: i64,
    /// The window's start.
    pub since: OffsetDateTime,
    /// The version in force compared against (0: the built-in defaults).
    pub rules_version: i64,
    /// More tickets were opened in the window than were read ([`HISTORY_MAX_TICKETS`], the
    /// newest).
    pub truncated: bool,
    pub comparison: HistoryComparison,
}

/// Staff work on tickets and routing.
#[derive(Debug)]
pub struct Tickets {
    core: Core,
    routing: Arc<Routing>,
    escalate: Arc<Escalate>,
    /// One dry run over history at a time, hub-wide: each may classify thousands of tickets.
    history_runs: Arc<Semaphore>,
}

/// How long a dry run over history waits for the one running before it is refused (429).
const HISTORY_RUN_WAIT: Duration = Duration::from_secs(2);

/// A permit of `gate`, waiting at most `wait`; none free by then is 429.
async fn history_permit(gate: &Arc<Semaphore>, wait: Duration) -> Result<OwnedSemaphorePermit, Error> {
    match tokio::time::timeout(wait, Arc::clone(gate).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(closed)) => Err(Error::Internal(closed.to_string())),
        Err(_) => Err(Error::TooManyRequests("another dry run over history is running; try again shortly".to_owned())),
    }
}

impl Tickets {
    #[must_use]
    pub fn new(core: Core, routing: Arc<Routing>, escalate: Arc<Escalate>) -> Self {
        Self { core, routing, escalate, history_runs: Arc::new(Semaphore::new(1)) }
    }

    /// An agent hands the conversation to the queues: the rules pick queue, skills and
    /// priority; the router offers it.
    ///
    /// # Errors
    /// Another agent holds the conversation (403), unknown conversation (404), an open ticket
    /// already (409), invalid tags (422).
    pub async fn hand_over(&self, agent: &Agent, id: ConversationId, raw_tags: Vec<String>) -> Result<Ticket, Error> {
        let tags = tags(raw_tags)?;
        let conversation = self.core.store.conversation(id).await?;
        may_act_on(agent, conversation.assignee_id, Unheld::Claim)?;
        let mut escalation = Escalation::new(&conversation, Actor::Agent(agent.id));
        escalation.tags = tags;
        self.escalate.escalate(escalation).await
    }

    /// A ticket with its history and notes.
    ///
    /// # Errors
    /// Unknown ticket (404), or the store fails.
    pub async fn detail(&self, id: TicketId) -> Result<TicketDetail, Error> {
        let store = &self.core.store;
        let ticket = store.ticket(id).await?;
        let events = store.ticket_events(ticket.id).await?;
        let notes = store.ticket_notes(ticket.id).await?;
        Ok(TicketDetail { ticket, events, notes })
    }

    /// Takes the ticket offered to `agent`.
    ///
    /// # Errors
    /// No such offer (409).
    pub async fn accept(&self, agent: AgentId, id: TicketId) -> Result<Ticket, Error> {
        self.routing.answer_offer(id, agent, true).await?;
        Ok(self.core.store.ticket(id).await?)
    }

    /// Declines the ticket offered to `agent`.
    ///
    /// # Errors
    /// No such offer (409).
    pub async fn reject(&self, agent: AgentId, id: TicketId) -> Result<Ticket, Error> {
        self.routing.answer_offer(id, agent, false).await?;
        Ok(self.core.store.ticket(id).await?)
    }

    /// Resolves a ticket (the assignee or a supervisor).
    ///
    /// # Errors
    /// Not allowed (403), already closed (409).
    pub async fn resolve(&self, agent: &Agent, id: TicketId) -> Result<Ticket, Error> {
        let ticket = self.core.store.ticket(id).await?;
        may_work_on(agent, &ticket)?;
        open(&ticket)?;
        self.routing.finish(ticket, TicketStatus::Resolved, Actor::Agent(agent.id), "resolved").await
    }

    /// Waits for the customer: their next message puts the ticket back to the assignee.
    ///
    /// # Errors
    /// Not allowed (403), not assigned (409).
    pub async fn pending(&self, agent: &Agent, id: TicketId) -> Result<Ticket, Error> {
        let ticket = self.core.store.ticket(id).await?;
        may_work_on(agent, &ticket)?;
        self.routing.set_pending(ticket.id, Actor::Agent(agent.id)).await
    }

    /// Moves a ticket to another agent or queue.
    ///
    /// # Errors
    /// Not allowed (403), closed (409), not an active agent or no such queue (422).
    pub async fn transfer(&self, agent: &Agent, id: TicketId, to: TransferTo<'_>) -> Result<Ticket, Error> {
        let ticket = self.core.store.ticket(id).await?;
        may_work_on(agent, &ticket)?;
        open(&ticket)?;
        let to = match to {
            TransferTo::Agent(target) => {
                let target = self.core.store.agent(target).await?;
                if !target.active || !target.has_role(Role::Agent) {
                    return Err(Error::invalid("agent_id", "not an active agent"));
                }
                Transfer::Agent(target.id)
            }
            TransferTo::Queue(queue) => {
                let queue: QueueName = queue.parse()?;
                if !self.routing.rules().queues.iter().any(|q| q.name == queue) {
                    return Err(Error::invalid("queue", format!("no queue {queue}")));
                }
                Transfer::Queue(queue)
            }
        };
        self.routing.transfer(ticket, to, Actor::Agent(agent.id)).await
    }

    /// Adds an internal note, never shown to the customer, recorded in the ticket's history
    /// (`note_added`) and announced to the staff inboxes (`ticket.note`): a supervisor's whisper
    /// reaches the assignee's workspace live.
    ///
    /// # Errors
    /// Not the assignee nor a supervisor (403), empty or too long (422), unknown ticket (404).
    pub async fn add_note(&self, agent: &Agent, id: TicketId, text: &str) -> Result<TicketNote, Error> {
        let ticket = self.core.store.ticket(id).await?;
        may_work_on(agent, &ticket)?;
        let text = schema::MessageText::parse(text, MAX_NOTE_CHARS)?;
        let note = TicketNote {
            ticket_id: id,
            author_id: agent.id,
            text: text.as_str().to_owned(),
            // To the millisecond, as stored: the live event and a later read then agree.
            created_at: crate::services::routing::to_time(crate::services::now_ms()),
        };
        self.core.store.add_ticket_note(&note).await?;
        // Live to every staff inbox (the assignee's workspace shows it on the ticket at once).
        self.core.bus.publish(Event::NoteAdded {
            ticket_id: id,
            conversation_id: ticket.conversation_id,
            author_id: agent.id,
            author_name: agent.name.clone(),
            text: note.text.clone(),
            created_at: note.created_at,
        });
        Ok(note)
    }

    /// Replaces the ticket's tags.
    ///
    /// # Errors
    /// Not the assignee nor a supervisor (403), invalid tags (422), unknown ticket (404).
    pub async fn set_tags(&self, agent: &Agent, id: TicketId, raw: Vec<String>) -> Result<Ticket, Error> {
        may_work_on(agent, &self.core.store.ticket(id).await?)?;
        let new_tags = tags(raw)?;
        let line = TicketEvent {
            ticket_id: id,
            actor: Actor::Agent(agent.id),
            kind: "tags_changed".into(),
            detail: serde_json::json!({ "to": new_tags }),
            at: OffsetDateTime::now_utc(),
        };
        let ticket = self.core.store.set_ticket_tags(id, &new_tags, &line).await?;
        self.core.bus.publish(Event::TicketUpdated { ticket: ticket.clone() });
        Ok(ticket)
    }

    // ---- agents' profiles and presence --------------------------------------------------------

    /// The staff `caller` may see with their presence, by name: every staff member for an
    /// admin; for anyone else the active staff who hold the agent role themselves (whom a ticket
    /// can be transferred to), not admins by virtue of being admins.
    ///
    /// # Errors
    /// The store fails.
    pub async fn directory(&self, caller: &Agent) -> Result<Vec<(Agent, Presence)>, Error> {
        let admin = caller.has_role(Role::Admin);
        let agents: Vec<Agent> = self
            .core
            .store
            .agents()
            .await?
            .into_iter()
            .filter(|a| admin || (a.active && a.roles.contains(&Role::Agent)))
            .collect();
        let presences = self.routing.presences(agents.iter().map(|a| a.id).collect()).await?;
        Ok(agents.into_iter().zip(presences).collect())
    }

    /// An agent's routing profile and presence.
    ///
    /// # Errors
    /// Unknown agent (404).
    pub async fn profile(&self, id: AgentId) -> Result<Profile, Error> {
        self.core.store.agent(id).await?;
        let stored = self.core.store.agent_routing(id).await?;
        let (skills, capacity) =
            stored.map_or_else(|| (BTreeMap::new(), Capacity::default()), |r| (r.skills, r.capacity));
        let presence = self.routing.presence(id).await?;
        Ok(Profile { agent_id: id, skills, capacity, presence })
    }

    /// Sets an agent's skills and capacity.
    ///
    /// # Errors
    /// Unknown agent (404); an unknown skill, a level or capacity out of range (422).
    pub async fn set_profile(&self, id: AgentId, input: ProfileInput) -> Result<Profile, Error> {
        self.core.store.agent(id).await?;
        let catalog = self.routing.rules().skills.clone();
        let mut skills = BTreeMap::new();
        for (name, level) in input.skills {
            let skill: SkillName = name.parse()?;
            if !catalog.contains(&skill) {
                return Err(Error::invalid(
                    "skills",
                    format!("unknown skill {skill}: add it to the routing rules' skills first"),
                ));
            }
            skills.insert(skill, SkillLevel::try_from(level)?);
        }
        let mut capacity = Capacity::default();
        if let Some(limits) = input.capacity {
            capacity.limits.clear();
            for (channel, n) in limits {
                let channel: Channel = channel.parse()?;
                let n = u8::try_from(n).ok().filter(|n| *n <= 20).ok_or_else(|| {
                    Error::invalid("capacity", format!("capacity for {channel} must be between 0 and 20, not {n}"))
                })?;
                capacity.limits.insert(channel, n);
            }
        }
        if let Some(exclusive) = input.exclusive {
            capacity.exclusive = exclusive.iter().map(|c| c.parse::<Channel>()).collect::<Result<_, _>>()?;
        }
        let routing = AgentRouting { agent_id: id, skills, capacity, presence: Presence::Offline };
        self.routing.set_profile(routing.clone()).await?;
        let presence = self.routing.presence(id).await?;
        Ok(Profile { agent_id: id, skills: routing.skills, capacity: routing.capacity, presence })
    }

    /// Sets an agent's own presence.
    ///
    /// # Errors
    /// An unknown presence (422), or the store fails.
    pub async fn set_presence(&self, agent: AgentId, presence: &str) -> Result<Presence, Error> {
        let presence: Presence = presence.parse()?;
        self.routing.set_presence(agent, presence).await?;
        Ok(presence)
    }

    /// A supervisor sets an agent's presence. `available` and `busy` need the agent's inbox
    /// open (offers to a closed inbox would only time out).
    ///
    /// # Errors
    /// Unknown agent (404), not an active agent or an unknown presence (422), available or busy
    /// for a closed inbox (409).
    pub async fn set_agent_presence(&self, supervisor: &Agent, id: AgentId, presence: &str) -> Result<Presence, Error> {
        let presence: Presence = presence.parse()?;
        let agent = self.core.store.agent(id).await?;
        if !agent.active || !agent.has_role(Role::Agent) {
            return Err(Error::invalid("agent_id", "not an active agent"));
        }
        if matches!(presence, Presence::Available | Presence::Busy) && !self.routing.connected(id).await? {
            return Err(Error::Conflict(format!("{} has no workspace open: they cannot be {presence}", agent.name)));
        }
        self.routing.set_presence(id, presence).await?;
        tracing::info!(agent_id = %id, by = %supervisor.id, %presence, "presence set by a supervisor");
        Ok(presence)
    }

    // ---- rules --------------------------------------------------------------------------------

    /// The rules in force and their version (0 until a supervisor saves rules).
    ///
    /// # Errors
    /// The store fails.
    pub async fn rules(&self) -> Result<(i64, RoutingRules), Error> {
        let version = self.core.store.current_rules().await?.map_or(0, |v| v.version);
        Ok((version, (*self.routing.rules()).clone()))
    }

    /// Validates, saves as a new version and puts in force.
    ///
    /// # Errors
    /// Invalid rules (422 naming the field), another version saved since `expected_version` (409).
    pub async fn save_rules(
        &self,
        supervisor: AgentId,
        rules: serde_json::Value,
        expected_version: Option<i64>,
    ) -> Result<(i64, RoutingRules), Error> {
        let parsed = parse_rules(rules)?;
        self.put_in_force(supervisor, parsed, expected_version, None).await
    }

    /// Puts an earlier version's rules back in force as a new version that records which it
    /// restored.
    ///
    /// # Errors
    /// No such version (404), its rules no longer validate (422), another version saved since
    /// `expected_version` (409).
    pub async fn restore_rules(
        &self,
        supervisor: AgentId,
        version: i64,
        expected_version: Option<i64>,
    ) -> Result<(i64, RoutingRules), Error> {
        let old = self.core.store.rules_version(version).await?;
        let parsed = parse_rules(old.rules)?;
        self.put_in_force(supervisor, parsed, expected_version, Some(version)).await
    }

    async fn put_in_force(
        &self,
        supervisor: AgentId,
        parsed: RoutingRules,
        expected_version: Option<i64>,
        restored_from: Option<i64>,
    ) -> Result<(i64, RoutingRules), Error> {
        let canonical = serde_json::to_value(&parsed).map_err(Error::internal)?;
        let saved = self.core.store.save_rules(&canonical, supervisor, expected_version, restored_from).await?;
        self.routing.set_rules(saved.version, parsed.clone()).await;
        tracing::info!(version = saved.version, by = %supervisor, restored_from, "routing rules saved");
        Ok((saved.version, parsed))
    }

    /// One saved version.
    ///
    /// # Errors
    /// No such version (404).
    pub async fn rules_version(&self, version: i64) -> Result<RulesVersion, Error> {
        Ok(self.core.store.rules_version(version).await?)
    }

    /// Draft rules tried on the tickets opened in the last `hours` (1 to
    /// [`HISTORY_MAX_HOURS`]), at most [`HISTORY_MAX_TICKETS`] of them, the newest: which
    /// would change queue compared with the rules in force, and the expected wait per queue
    /// (see `router::history`).
    ///
    /// # Errors
    /// `hours` out of range or the draft does not validate (422), another dry run over history
    /// still running after a short wait (429), or the store fails.
    pub async fn dry_run_history(&self, draft: serde_json::Value, hours: i64) -> Result<HistoryDryRun, Error> {
        if !(1..=HISTORY_MAX_HOURS).contains(&hours) {
            return Err(Error::invalid("hours", format!("from 1 to {HISTORY_MAX_HOURS} hours")));
        }
        let draft = parse_rules(draft)?;
        let _permit = history_permit(&self.history_runs, HISTORY_RUN_WAIT).await?;
        let (version, current) = self.rules().await?;
        let now = OffsetDateTime::now_utc();
        let since = now - time::Duration::hours(hours);
        let store = &self.core.store;
        let mut rows = store.ticket_history(since, HISTORY_MAX_TICKETS + 1).await?;
        let truncated = rows.len() > HISTORY_MAX_TICKETS as usize;
        rows.truncate(HISTORY_MAX_TICKETS as usize);
        let now_ms = now.unix_timestamp() * 1000;
        let tickets: Vec<HistoryTicket> = rows
            .into_iter()
            .map(|row| {
                let opened = (row.created_at.unix_timestamp_nanos() / 1_000_000) as i64;
                let taken = row.first_assigned_at.map_or(now_ms, |at| (at.unix_timestamp_nanos() / 1_000_000) as i64);
                HistoryTicket {
                    id: row.ticket_id,
                    sample: Sample {
                        channel: row.channel,
                        language: row.language,
                        tier: row.tier,
                        tags: row.tags.into_iter().collect(),
                        text: row.text,
                        at: opened,
                        // The score of that time is not kept: churn conditions match no past ticket.
                        churn_risk: None,
                    },
                    waited_ms: (taken - opened).max(0),
                }
            })
            .collect();
        // Every active agent serves, with the skills of their routing profile (none without).
        let mut skills: BTreeMap<AgentId, BTreeMap<SkillName, SkillLevel>> =
            store.agent_routings().await?.into_iter().map(|r| (r.agent_id, r.skills)).collect();
        let agents: Vec<BTreeMap<SkillName, SkillLevel>> = store
            .agents()
            .await?
            .into_iter()
            .filter(|a| a.active && a.roles.contains(&Role::Agent))
            .map(|a| skills.remove(&a.id).unwrap_or_default())
            .collect();
        // Classifying thousands of tickets is CPU work: off the server's worker threads.
        let comparison = tokio::task::spawn_blocking(move || {
            router::history::compare(&current, &draft, &tickets, &agents, HISTORY_SAMPLE)
        })
        .await
        .map_err(|e| Error::Internal(format!("dry run over history failed: {e}")))?;
        Ok(HistoryDryRun { hours, since, rules_version: version, truncated, comparison })
    }

    /// The saved versions, newest first (at most 200), without their rules.
    ///
    /// # Errors
    /// The store fails.
    pub async fn rules_versions(&self) -> Result<Vec<RulesVersionSummary>, Error> {
        Ok(self.core.store.rules_version_summaries(200).await?)
    }

    /// Which rule, queue, skills and priority a sample conversation would get, with the rules in
    /// force or with draft rules.
    ///
    /// # Errors
    /// A sample field or the draft rules do not validate (422).
    pub fn dry_run(&self, input: DryRunInput) -> Result<Classification, Error> {
        if let Some(score) = input.churn_risk
            && score > 100
        {
            return Err(Error::invalid("churn_risk", "a score from 0 to 100"));
        }
        let sample = Sample {
            channel: input.channel.parse()?,
            language: input.language.as_deref().map(str::parse::<Language>).transpose()?.unwrap_or_default(),
            tier: input.tier.as_deref().map(str::parse::<CustomerTier>).transpose()?.unwrap_or_default(),
            tags: tags(input.tags)?.into_iter().collect(),
            text: input.text,
            at: input.at.unwrap_or_else(OffsetDateTime::now_utc).unix_timestamp() * 1000,
            churn_risk: input.churn_risk,
        };
        Ok(match input.rules {
            Some(draft) => parse_rules(draft)?.classify(&sample),
            None => self.routing.classify(&sample),
        })
    }
}

/// The rules as sent, parsed and validated; problems are 422 naming the field.
///
/// A value of the wrong shape names its path too (`rules[0].when.channels[0]`): the path of the
/// first field serde could not read, or `rules` for the whole.
fn parse_rules(value: serde_json::Value) -> Result<RoutingRules, Error> {
    let rules: RoutingRules = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." { "rules".to_owned() } else { path };
        Error::InvalidRules { field, message: e.into_inner().to_string() }
    })?;
    if let Err(errors) = rules.validate() {
        let first = errors.first().map(|e| (e.field.clone(), e.message.clone())).unwrap_or_default();
        let all: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        return Err(Error::InvalidRules { field: first.0, message: all.join("; ") });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_dry_run_over_history_waits_briefly_then_is_refused() {
        let gate = Arc::new(Semaphore::new(1));
        let first = history_permit(&gate, Duration::from_millis(10)).await.unwrap();
        let second = history_permit(&gate, Duration::from_millis(20)).await;
        assert!(matches!(second, Err(Error::TooManyRequests(_))), "{second:?}");
        drop(first);
        assert!(history_permit(&gate, Duration::from_millis(10)).await.is_ok());
    }
}
