//! The routing engine: agents, queues, offers, escalation.
//!
//! # How it stays fast
//!
//! - **Queue order.** A waiting ticket's rank key is `priority * aging_ms_per_level -
//!   queued_at` (higher first), then `queued_at`, then the ticket id. Aging adds the same
//!   amount to every ticket as time passes, so the key never changes with time and ordered
//!   sets ([`BTreeSet`]) keep the order without re-sorting. Waiting (not offered) tickets sit
//!   in one such set per channel.
//! - **Agent index.** Every available agent who can take one more ticket of a channel (free
//!   capacity, exclusivity respected) is in a set per (skill, channel), ordered by (level
//!   descending, `idle_since`, id), and in a set per channel ordered by (`idle_since`, id).
//!   Choosing the agent for a ticket walks the smallest set among its required skills, in
//!   that order, and stops as soon as no later candidate can beat the best found (an upper
//!   bound from the best level available in each other required skill). Each entry carries a
//!   64-bit mask of the agent's skills, so a candidate lacking one of the ticket's skills is
//!   passed over without reading the agent.
//! - **Only what changed is looked at.** After every input, no waiting ticket has a qualified
//!   agent (available, with capacity, with the skills). So a handle call only looks at tickets
//!   that became waiting or changed (queued, offer ended, escalated: "pending"), and at agents
//!   that gained room (became available, freed capacity, changed profile: "freed"). Each freed
//!   agent scans the waiting tickets of the channels it can take, in rank order, and stops at
//!   the first one it qualifies for. The engine then takes, among the pending tickets and the
//!   freed agents' first finds, the best-ranked ticket, and offers it to *its* best eligible
//!   agent (which need not be the freed agent that found it: fairness between agents is kept);
//!   and repeats until nothing is left. So a newly available agent gets the highest-ranked
//!   ticket it qualifies for, unless a better-ranked ticket is offerable, which goes first.
//!
//! # Agent choice
//!
//! Among eligible agents: highest sum of levels in the required skills (0 if none), then the
//! longest idle (oldest `idle_since`: the time the agent last became available, or their load
//! last dropped to zero, whichever is later), then the lowest id. An agent who rejected or let
//! an offer of a ticket time out is not offered it again, unless every qualified agent has
//! declined it: then that memory is cleared and the cycle starts again.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use schema::{AgentId, Channel, Presence, QueueName, SkillLevel, TicketId};

use crate::model::{
    AgentProfile, AgentStats, AgentTicket, Decision, EngineConfig, EscalationStep, Input, Millis, OfferEnd, QueueStats,
    SkillRequirement, TicketRequest,
};

/// Why the engine refused an input. Nothing changed when it did.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// The agent is not known to the engine.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// The ticket is not known to the engine.
    #[error("unknown ticket {0}")]
    UnknownTicket(TicketId),
    /// The ticket has no live offer to that agent (expired, or offered to someone else).
    #[error("ticket {ticket} has no live offer to agent {agent}")]
    NoSuchOffer {
        /// The ticket.
        ticket: TicketId,
        /// The agent who answered.
        agent: AgentId,
    },
    /// The engine already holds this ticket.
    #[error("ticket {0} is already known")]
    AlreadyKnown(TicketId),
}

const NCH: usize = 6;

fn ch(c: Channel) -> usize {
    match c {
        Channel::WebChat => 0,
        Channel::Email => 1,
        Channel::Voice => 2,
        Channel::Messenger => 3,
        Channel::WhatsApp => 4,
        Channel::Telegram => 5,
    }
}

const CHANNELS: [Channel; NCH] =
    [Channel::WebChat, Channel::Email, Channel::Voice, Channel::Messenger, Channel::WhatsApp, Channel::Telegram];

/// A ticket's place in queue order: smaller is served first.
type Rank = (Reverse<i64>, Millis, TicketId);
/// An entry of a (skill, channel) index: (level descending, idle since, id, slot, the agent's
/// [`skill_mask`]). The mask lets the search for a ticket's best agent pass over those lacking
/// one of its skills without reading the agent itself.
type SkillEntry = (Reverse<u8>, Millis, AgentId, usize, u64);

/// A 64-bit summary of a set of interned skills: bit `skill % 64` per skill. An agent whose mask
/// lacks a bit of a ticket's mask lacks one of its skills; one that has them all may still lack
/// one (two skills sharing a bit, with more than 64 skills), so it is then checked in full.
fn skill_mask<'a>(skills: impl IntoIterator<Item = &'a (usize, u8)>) -> u64 {
    skills.into_iter().fold(0, |m, (s, _)| m | (1u64 << (s % 64)))
}
/// An entry of a channel index: (idle since, id, slot).
type ChannelEntry = (Millis, AgentId, usize);
/// What a waiting ticket needs: channel index and interned requirements.
type Need<'a> = (usize, &'a [(usize, u8)]);

#[derive(Debug)]
struct Agent {
    id: AgentId,
    /// Interned skill → level.
    skills: Vec<(usize, u8)>,
    limits: [u8; NCH],
    /// Bit per channel.
    exclusive: u8,
    presence: Presence,
    missed: u8,
    idle_since: Millis,
    load: [u16; NCH],
    total: u32,
    exclusive_held: u32,
    offers: BTreeSet<TicketId>,
    assigned: BTreeSet<TicketId>,
    /// What the agent is indexed under: (idle since, channel mask).
    indexed: Option<(Millis, u8)>,
}

impl Agent {
    fn level(&self, skill: usize) -> u8 {
        self.skills.iter().find(|(s, _)| *s == skill).map_or(0, |(_, l)| *l)
    }

    fn can_take(&self, c: usize) -> bool {
        self.presence == Presence::Available
            && self.limits[c] > 0
            && self.load[c] < u16::from(self.limits[c])
            && self.exclusive_held == 0
            && (self.exclusive & (1 << c) == 0 || self.total == 0)
    }

    fn channel_mask(&self) -> u8 {
        (0..NCH).filter(|&c| self.can_take(c)).fold(0, |m, c| m | (1 << c))
    }

    fn qualifies(&self, req: &[(usize, u8)]) -> bool {
        req.iter().all(|&(s, l)| self.level(s) >= l)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Offered { agent: AgentId, expires_at: Millis },
}

#[derive(Debug)]
struct Ticket {
    queue: QueueName,
    channel: Channel,
    priority: i64,
    skills: Vec<SkillRequirement>,
    /// Interned `skills`.
    req: Vec<(usize, u8)>,
    queued_at: Millis,
    /// Steps not yet taken.
    escalation: Vec<EscalationStep>,
    /// When the next step is due, if any.
    next_due: Option<Millis>,
    state: State,
    declined: BTreeSet<AgentId>,
}

/// The routing engine. See the module documentation for how it decides.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    agents: Vec<Option<Agent>>,
    agent_slot: BTreeMap<AgentId, usize>,
    free_slots: Vec<usize>,
    skill_ids: BTreeMap<schema::SkillName, usize>,
    /// Per interned skill, per channel: available agents with room.
    by_skill: Vec<[BTreeSet<SkillEntry>; NCH]>,
    /// Per channel: available agents with room.
    by_channel: [BTreeSet<ChannelEntry>; NCH],
    /// Queued or offered tickets.
    tickets: BTreeMap<TicketId, Ticket>,
    /// Assigned tickets: agent and channel.
    assigned: BTreeMap<TicketId, (AgentId, Channel)>,
    /// Waiting (not offered) tickets per channel, in rank order.
    waiting: [BTreeSet<Rank>; NCH],
    expiries: BTreeSet<(Millis, TicketId)>,
    escalations: BTreeSet<(Millis, TicketId)>,
    /// Tickets to look at in this call.
    pending: BTreeSet<Rank>,
    /// Agents that gained room in this call.
    freed: BTreeSet<AgentId>,
}

fn rank_of(config: &EngineConfig, id: TicketId, t: &Ticket) -> Rank {
    (Reverse(t.priority.saturating_mul(config.aging_ms_per_level).saturating_sub(t.queued_at)), t.queued_at, id)
}

impl Engine {
    /// An engine with no agents and no tickets.
    #[must_use]
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            agents: Vec::new(),
            agent_slot: BTreeMap::new(),
            free_slots: Vec::new(),
            skill_ids: BTreeMap::new(),
            by_skill: Vec::new(),
            by_channel: Default::default(),
            tickets: BTreeMap::new(),
            assigned: BTreeMap::new(),
            waiting: Default::default(),
            expiries: BTreeSet::new(),
            escalations: BTreeSet::new(),
            pending: BTreeSet::new(),
            freed: BTreeSet::new(),
        }
    }

    /// The current settings.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Replaces the settings. Queue order is rebuilt if aging changed; live offers keep their
    /// expiry.
    pub fn set_config(&mut self, config: EngineConfig) {
        let rebuild = config.aging_ms_per_level != self.config.aging_ms_per_level;
        self.config = config;
        if rebuild {
            for set in &mut self.waiting {
                set.clear();
            }
            for (id, t) in &self.tickets {
                if t.state == State::Waiting {
                    self.waiting[ch(t.channel)].insert(rank_of(&self.config, *id, t));
                }
            }
        }
    }

    /// Applies one input at time `now` and returns the decisions, in the order they happened.
    ///
    /// # Errors
    /// Unknown agents or tickets, an answer to an offer that is not live, a ticket queued or
    /// assigned twice. Nothing changes then.
    pub fn handle(&mut self, now: Millis, input: Input) -> Result<Vec<Decision>, EngineError> {
        self.check(now, &input)?;
        let mut out = Vec::new();
        self.escalate_due(now, &mut out);
        let tick = input == Input::Tick;
        self.apply(now, input, &mut out);
        if tick {
            self.expire(now, &mut out);
        }
        self.escalate_due(now, &mut out);
        self.dispatch(now, &mut out);
        Ok(out)
    }

    fn agent(&self, id: AgentId) -> Option<&Agent> {
        self.agent_slot.get(&id).and_then(|&s| self.agents.get(s)).and_then(Option::as_ref)
    }

    fn check(&self, now: Millis, input: &Input) -> Result<(), EngineError> {
        let known_agent =
            |a: AgentId| if self.agent_slot.contains_key(&a) { Ok(()) } else { Err(EngineError::UnknownAgent(a)) };
        let known_ticket = |t: TicketId| self.tickets.contains_key(&t) || self.assigned.contains_key(&t);
        match input {
            Input::AgentUpdated(_) | Input::Tick => Ok(()),
            Input::AgentRemoved(a) | Input::PresenceChanged { agent: a, .. } => known_agent(*a),
            Input::TicketQueued(req) => {
                if known_ticket(req.id) {
                    Err(EngineError::AlreadyKnown(req.id))
                } else {
                    Ok(())
                }
            }
            Input::TicketAssigned { ticket, agent, .. } => {
                known_agent(*agent)?;
                if known_ticket(*ticket) { Err(EngineError::AlreadyKnown(*ticket)) } else { Ok(()) }
            }
            Input::TicketRemoved(t) => {
                if known_ticket(*t) {
                    Ok(())
                } else {
                    Err(EngineError::UnknownTicket(*t))
                }
            }
            Input::OfferAccepted { ticket, agent } | Input::OfferRejected { ticket, agent } => {
                known_agent(*agent)?;
                if !known_ticket(*ticket) {
                    return Err(EngineError::UnknownTicket(*ticket));
                }
                match self.tickets.get(ticket).map(|t| t.state) {
                    Some(State::Offered { agent: a, expires_at }) if a == *agent && expires_at > now => Ok(()),
                    _ => Err(EngineError::NoSuchOffer { ticket: *ticket, agent: *agent }),
                }
            }
        }
    }

    fn apply(&mut self, now: Millis, input: Input, out: &mut Vec<Decision>) {
        match input {
            Input::AgentUpdated(profile) => self.update_agent(now, profile),
            Input::AgentRemoved(id) => self.remove_agent(now, id, out),
            Input::PresenceChanged { agent, presence } => {
                if let Some(&slot) = self.agent_slot.get(&agent) {
                    self.set_presence(now, slot, presence, out);
                }
            }
            Input::TicketQueued(req) => self.queue_ticket(req),
            Input::TicketAssigned { ticket, agent, channel } => {
                if let Some(&slot) = self.agent_slot.get(&agent) {
                    self.assigned.insert(ticket, (agent, channel));
                    if let Some(a) = self.agents[slot].as_mut() {
                        a.assigned.insert(ticket);
                    }
                    self.take_load(slot, channel);
                }
            }
            Input::TicketRemoved(ticket) => self.remove_ticket(now, ticket, out),
            Input::OfferAccepted { ticket, agent } => self.accept(ticket, agent, out),
            Input::OfferRejected { ticket, .. } => self.end_offer(now, ticket, OfferEnd::Rejected, out),
            Input::Tick => {}
        }
    }

    fn intern(&mut self, skill: &schema::SkillName) -> usize {
        if let Some(&id) = self.skill_ids.get(skill) {
            return id;
        }
        let id = self.by_skill.len();
        self.by_skill.push(Default::default());
        self.skill_ids.insert(skill.clone(), id);
        id
    }

    fn intern_reqs(&mut self, skills: &[SkillRequirement]) -> Vec<(usize, u8)> {
        skills.iter().map(|r| (self.intern(&r.skill), r.level.get())).collect()
    }

    fn unindex(&mut self, slot: usize) {
        let Self { agents, by_skill, by_channel, .. } = self;
        let Some(a) = agents.get_mut(slot).and_then(Option::as_mut) else { return };
        if let Some((idle, mask)) = a.indexed.take() {
            let skills = skill_mask(&a.skills);
            for c in (0..NCH).filter(|c| mask & (1 << c) != 0) {
                by_channel[c].remove(&(idle, a.id, slot));
                for &(s, l) in &a.skills {
                    by_skill[s][c].remove(&(Reverse(l), idle, a.id, slot, skills));
                }
            }
        }
    }

    /// Brings the agent's index entries up to date with its presence, load and idle time.
    fn reindex(&mut self, slot: usize) {
        let Some(a) = self.agents.get(slot).and_then(Option::as_ref) else { return };
        let mask = a.channel_mask();
        let wanted = (mask != 0).then_some((a.idle_since, mask));
        if wanted == a.indexed {
            return;
        }
        self.unindex(slot);
        let Self { agents, by_skill, by_channel, .. } = self;
        let Some(a) = agents.get_mut(slot).and_then(Option::as_mut) else { return };
        if let Some((idle, mask)) = wanted {
            let skills = skill_mask(&a.skills);
            for c in (0..NCH).filter(|c| mask & (1 << c) != 0) {
                by_channel[c].insert((idle, a.id, slot));
                for &(s, l) in &a.skills {
                    by_skill[s][c].insert((Reverse(l), idle, a.id, slot, skills));
                }
            }
        }
        a.indexed = wanted;
    }

    fn update_agent(&mut self, now: Millis, profile: AgentProfile) {
        let skills: Vec<(usize, u8)> = profile.skills.iter().map(|(s, l)| (self.intern(s), l.get())).collect();
        let mut limits = [0u8; NCH];
        for (c, l) in &profile.capacity.limits {
            limits[ch(*c)] = *l;
        }
        let exclusive = profile.capacity.exclusive.iter().fold(0u8, |m, c| m | (1 << ch(*c)));
        let slot = if let Some(&slot) = self.agent_slot.get(&profile.id) {
            self.unindex(slot);
            if let Some(a) = self.agents[slot].as_mut() {
                a.skills = skills;
                a.limits = limits;
                a.exclusive = exclusive;
                // Exclusive-work count follows the new exclusive set.
                a.exclusive_held = (0..NCH).filter(|c| exclusive & (1 << c) != 0).map(|c| u32::from(a.load[c])).sum();
            }
            slot
        } else {
            let agent = Agent {
                id: profile.id,
                skills,
                limits,
                exclusive,
                presence: Presence::Offline,
                missed: 0,
                idle_since: now,
                load: [0; NCH],
                total: 0,
                exclusive_held: 0,
                offers: BTreeSet::new(),
                assigned: BTreeSet::new(),
                indexed: None,
            };
            let slot = if let Some(slot) = self.free_slots.pop() {
                self.agents[slot] = Some(agent);
                slot
            } else {
                self.agents.push(Some(agent));
                self.agents.len() - 1
            };
            self.agent_slot.insert(profile.id, slot);
            slot
        };
        self.reindex(slot);
        self.mark_freed(slot);
    }

    fn remove_agent(&mut self, now: Millis, id: AgentId, out: &mut Vec<Decision>) {
        let Some(&slot) = self.agent_slot.get(&id) else { return };
        if let Some(a) = self.agents[slot].as_mut() {
            a.presence = Presence::Offline;
        }
        self.reindex(slot);
        let offers: Vec<TicketId> =
            self.agents[slot].as_ref().map(|a| a.offers.iter().copied().collect()).unwrap_or_default();
        for t in offers {
            self.end_offer(now, t, OfferEnd::AgentLeft, out);
        }
        self.unindex(slot);
        if let Some(a) = self.agents[slot].take() {
            for t in &a.assigned {
                self.assigned.remove(t);
            }
        }
        self.agent_slot.remove(&id);
        self.free_slots.push(slot);
        self.freed.remove(&id);
    }

    fn mark_freed(&mut self, slot: usize) {
        if let Some(a) = self.agents[slot].as_ref()
            && a.indexed.is_some()
        {
            self.freed.insert(a.id);
        }
    }

    fn set_presence(&mut self, now: Millis, slot: usize, presence: Presence, out: &mut Vec<Decision>) {
        let Some(a) = self.agents[slot].as_mut() else { return };
        if presence == Presence::Available {
            a.missed = 0;
            if a.presence != Presence::Available {
                a.presence = presence;
                a.idle_since = now;
            }
            self.reindex(slot);
            self.mark_freed(slot);
        } else {
            a.presence = presence;
            let offers: Vec<TicketId> = a.offers.iter().copied().collect();
            self.reindex(slot);
            for t in offers {
                self.end_offer(now, t, OfferEnd::AgentLeft, out);
            }
        }
    }

    /// Counts one more ticket of `channel` against the agent.
    fn take_load(&mut self, slot: usize, channel: Channel) {
        if let Some(a) = self.agents[slot].as_mut() {
            let c = ch(channel);
            a.load[c] = a.load[c].saturating_add(1);
            a.total += 1;
            if a.exclusive & (1 << c) != 0 {
                a.exclusive_held += 1;
            }
        }
        self.reindex(slot);
    }

    /// Frees one ticket of `channel` from the agent.
    fn release_load(&mut self, now: Millis, slot: usize, channel: Channel) {
        if let Some(a) = self.agents[slot].as_mut() {
            let c = ch(channel);
            a.load[c] = a.load[c].saturating_sub(1);
            a.total = a.total.saturating_sub(1);
            if a.exclusive & (1 << c) != 0 {
                a.exclusive_held = a.exclusive_held.saturating_sub(1);
            }
            if a.total == 0 {
                a.idle_since = now;
            }
        }
        self.reindex(slot);
        self.mark_freed(slot);
    }

    fn queue_ticket(&mut self, req: TicketRequest) {
        let interned = self.intern_reqs(&req.skills);
        let next_due = req.escalation.first().map(|s| due(req.queued_at, s));
        let t = Ticket {
            queue: req.queue,
            channel: req.channel,
            priority: i64::from(req.priority.get()),
            skills: req.skills,
            req: interned,
            queued_at: req.queued_at,
            escalation: req.escalation,
            next_due,
            state: State::Waiting,
            declined: BTreeSet::new(),
        };
        let rank = rank_of(&self.config, req.id, &t);
        self.waiting[ch(t.channel)].insert(rank);
        self.pending.insert(rank);
        if let Some(d) = next_due {
            self.escalations.insert((d, req.id));
        }
        self.tickets.insert(req.id, t);
    }

    fn remove_ticket(&mut self, now: Millis, id: TicketId, out: &mut Vec<Decision>) {
        if let Some(t) = self.tickets.remove(&id) {
            let rank = rank_of(&self.config, id, &t);
            if let Some(d) = t.next_due {
                self.escalations.remove(&(d, id));
            }
            match t.state {
                State::Waiting => {
                    self.waiting[ch(t.channel)].remove(&rank);
                    self.pending.remove(&rank);
                }
                State::Offered { agent, expires_at } => {
                    self.expiries.remove(&(expires_at, id));
                    out.push(Decision::OfferEnded { ticket: id, agent, reason: OfferEnd::TicketRemoved });
                    if let Some(&slot) = self.agent_slot.get(&agent) {
                        if let Some(a) = self.agents[slot].as_mut() {
                            a.offers.remove(&id);
                        }
                        self.release_load(now, slot, t.channel);
                    }
                }
            }
        } else if let Some((agent, channel)) = self.assigned.remove(&id)
            && let Some(&slot) = self.agent_slot.get(&agent)
        {
            if let Some(a) = self.agents[slot].as_mut() {
                a.assigned.remove(&id);
            }
            self.release_load(now, slot, channel);
        }
    }

    fn accept(&mut self, id: TicketId, agent: AgentId, out: &mut Vec<Decision>) {
        let Some(t) = self.tickets.remove(&id) else { return };
        if let State::Offered { expires_at, .. } = t.state {
            self.expiries.remove(&(expires_at, id));
        }
        if let Some(d) = t.next_due {
            self.escalations.remove(&(d, id));
        }
        if let Some(&slot) = self.agent_slot.get(&agent)
            && let Some(a) = self.agents[slot].as_mut()
        {
            a.offers.remove(&id);
            a.assigned.insert(id);
            a.missed = 0;
        }
        self.assigned.insert(id, (agent, t.channel));
        out.push(Decision::Assign { ticket: id, agent });
    }

    /// Ends the live offer of a ticket: it waits again, and the agent's room is freed.
    fn end_offer(&mut self, now: Millis, id: TicketId, reason: OfferEnd, out: &mut Vec<Decision>) {
        let Some(t) = self.tickets.get_mut(&id) else { return };
        let State::Offered { agent, expires_at } = t.state else { return };
        t.state = State::Waiting;
        let declined = matches!(reason, OfferEnd::Rejected | OfferEnd::TimedOut);
        if declined {
            t.declined.insert(agent);
        }
        let channel = t.channel;
        let rank = rank_of(&self.config, id, t);
        self.expiries.remove(&(expires_at, id));
        self.waiting[ch(channel)].insert(rank);
        self.pending.insert(rank);
        out.push(Decision::OfferEnded { ticket: id, agent, reason });
        let Some(&slot) = self.agent_slot.get(&agent) else { return };
        let mut set_away = false;
        if let Some(a) = self.agents[slot].as_mut() {
            a.offers.remove(&id);
            if declined {
                a.missed = a.missed.saturating_add(1);
                set_away = a.missed >= self.config.max_missed_offers && a.presence == Presence::Available;
            }
        }
        self.release_load(now, slot, channel);
        if set_away {
            out.push(Decision::SetAway { agent });
            self.set_presence(now, slot, Presence::Away, out);
        }
    }

    fn expire(&mut self, now: Millis, out: &mut Vec<Decision>) {
        while let Some(&(at, id)) = self.expiries.first() {
            if at > now {
                break;
            }
            self.expiries.remove(&(at, id));
            self.end_offer(now, id, OfferEnd::TimedOut, out);
        }
    }

    fn escalate_due(&mut self, now: Millis, out: &mut Vec<Decision>) {
        while let Some(&(at, id)) = self.escalations.first() {
            if at > now {
                break;
            }
            self.escalations.remove(&(at, id));
            let Some(t) = self.tickets.get_mut(&id) else { continue };
            if t.escalation.is_empty() {
                t.next_due = None;
                continue;
            }
            let step = t.escalation.remove(0);
            match &step {
                EscalationStep::WidenSkills { by, .. } => {
                    for r in &mut t.skills {
                        let level = r.level.get().saturating_sub(*by).max(1);
                        r.level = SkillLevel::try_from(i64::from(level)).unwrap_or(SkillLevel::MIN);
                    }
                    for r in &mut t.req {
                        r.1 = r.1.saturating_sub(*by).max(1);
                    }
                }
                EscalationStep::Overflow { queue, .. } => t.queue = queue.clone(),
            }
            t.next_due = t.escalation.first().map(|s| due(t.queued_at, s));
            if let Some(d) = t.next_due {
                self.escalations.insert((d, id));
            }
            out.push(Decision::Escalate { ticket: id, step, queue: t.queue.clone(), skills: t.skills.clone() });
            if t.state == State::Waiting {
                let rank = rank_of(&self.config, id, t);
                self.pending.insert(rank);
            }
        }
    }

    /// The first waiting ticket, from `cursor` on, that the agent can take and has the skills
    /// for (declines are ignored here: [`Engine::find_best`] deals with them).
    fn first_qualifying(&self, slot: usize, cursor: Option<(Rank, bool)>) -> Option<Rank> {
        use std::ops::Bound;
        let a = self.agents.get(slot).and_then(Option::as_ref)?;
        let (mask, _) = (a.channel_mask(), ());
        let mut best: Option<Rank> = None;
        for c in (0..NCH).filter(|c| mask & (1 << c) != 0) {
            let lower = match cursor {
                None => Bound::Unbounded,
                Some((r, true)) => Bound::Excluded(r),
                Some((r, false)) => Bound::Included(r),
            };
            for r in self.waiting[c].range((lower, Bound::Unbounded)) {
                if best.is_some_and(|b| *r >= b) {
                    break;
                }
                if self.tickets.get(&r.2).is_some_and(|t| a.qualifies(&t.req)) {
                    best = Some(*r);
                    break;
                }
            }
        }
        best
    }

    /// The best eligible agent for a waiting ticket, if any.
    fn find_best(&mut self, id: TicketId) -> Option<usize> {
        let t = self.tickets.get(&id)?;
        let c = ch(t.channel);
        let mut fallback: Option<usize> = None;
        let mut chosen: Option<usize> = None;
        if t.req.is_empty() {
            for &(_, agent, slot) in &self.by_channel[c] {
                if !t.declined.contains(&agent) {
                    chosen = Some(slot);
                    break;
                }
                if fallback.is_none() {
                    fallback = Some(slot);
                }
            }
        } else {
            let mut start = 0;
            let mut max_total: u32 = 0;
            for (j, &(s, l)) in t.req.iter().enumerate() {
                let set = &self.by_skill[s][c];
                let top = set.first().map_or(0, |e| e.0.0);
                if top < l {
                    return None;
                }
                max_total += u32::from(top);
                if set.len() < self.by_skill[t.req[start].0][c].len() {
                    start = j;
                }
            }
            let (s0, l0) = t.req[start];
            let max0 = self.by_skill[s0][c].first().map_or(0, |e| u32::from(e.0.0));
            // (score, idle, id, slot) of the best non-declined and the best declined agent.
            let mut best: Option<(u32, Millis, AgentId, usize)> = None;
            let mut best_declined: Option<(u32, Millis, AgentId, usize)> = None;
            let better = |cand: (u32, Millis, AgentId), cur: &Option<(u32, Millis, AgentId, usize)>| match cur {
                None => true,
                Some((s, i, a, _)) => cand.0 > *s || (cand.0 == *s && (cand.1, cand.2) < (*i, *a)),
            };
            let needed = skill_mask(&t.req);
            for &(Reverse(level), idle, agent, slot, skills) in &self.by_skill[s0][c] {
                if level < l0 {
                    break;
                }
                let bound = max_total - max0 + u32::from(level);
                if let Some((score, bi, ba, _)) = best
                    && (bound < score || (bound == score && (idle, agent) > (bi, ba)))
                {
                    break;
                }
                if skills & needed != needed {
                    continue;
                }
                let Some(a) = self.agents.get(slot).and_then(Option::as_ref) else { continue };
                let mut score = 0u32;
                let mut ok = true;
                for &(s, l) in &t.req {
                    let have = a.level(s);
                    if have < l {
                        ok = false;
                        break;
                    }
                    score += u32::from(have);
                }
                if !ok {
                    continue;
                }
                if t.declined.contains(&agent) {
                    if better((score, idle, agent), &best_declined) {
                        best_declined = Some((score, idle, agent, slot));
                    }
                } else if better((score, idle, agent), &best) {
                    best = Some((score, idle, agent, slot));
                }
            }
            chosen = best.map(|b| b.3);
            fallback = best_declined.map(|b| b.3);
        }
        if chosen.is_none() && fallback.is_some() {
            // Every qualified agent has declined: start the cycle again.
            if let Some(t) = self.tickets.get_mut(&id) {
                t.declined.clear();
            }
            return fallback;
        }
        chosen
    }

    fn offer(&mut self, now: Millis, id: TicketId, slot: usize, out: &mut Vec<Decision>) {
        let Some(agent) = self.agents.get(slot).and_then(Option::as_ref).map(|a| a.id) else { return };
        let expires_at = now.saturating_add(self.config.offer_timeout_ms);
        let Some(t) = self.tickets.get_mut(&id) else { return };
        t.state = State::Offered { agent, expires_at };
        let channel = t.channel;
        let rank = rank_of(&self.config, id, t);
        self.waiting[ch(channel)].remove(&rank);
        self.pending.remove(&rank);
        self.expiries.insert((expires_at, id));
        if let Some(a) = self.agents[slot].as_mut() {
            a.offers.insert(id);
        }
        self.take_load(slot, channel);
        out.push(Decision::Offer { ticket: id, agent, expires_at });
    }

    /// Offers whatever can be offered: see the module documentation.
    fn dispatch(&mut self, now: Millis, out: &mut Vec<Decision>) {
        let mut freed: Vec<(usize, Option<(Rank, bool)>)> = std::mem::take(&mut self.freed)
            .into_iter()
            .filter_map(|id| self.agent_slot.get(&id).map(|&s| (s, None)))
            .collect();
        loop {
            let mut cand = self.pending.first().copied();
            let mut i = 0;
            while i < freed.len() {
                let (slot, cursor) = freed[i];
                match self.first_qualifying(slot, cursor) {
                    Some(r) => {
                        freed[i].1 = Some((r, false));
                        if cand.is_none_or(|c| r < c) {
                            cand = Some(r);
                        }
                        i += 1;
                    }
                    None => {
                        freed.remove(i);
                    }
                }
            }
            let Some(rank) = cand else { break };
            self.pending.remove(&rank);
            for f in &mut freed {
                if f.1.is_some_and(|(r, _)| r == rank) {
                    f.1 = Some((rank, true));
                }
            }
            if self.tickets.get(&rank.2).is_some_and(|t| t.state == State::Waiting)
                && let Some(slot) = self.find_best(rank.2)
            {
                self.offer(now, rank.2, slot, out);
            }
        }
    }

    /// Figures per queue: every queue that has tickets or a first-response target, by name.
    #[must_use]
    pub fn queue_stats(&self, now: Millis) -> Vec<QueueStats> {
        let mut stats: BTreeMap<&QueueName, QueueStats> = BTreeMap::new();
        let blank = |q: &QueueName| QueueStats {
            queue: q.clone(),
            waiting: 0,
            offered: 0,
            longest_wait_ms: 0,
            available_agents: 0,
            sla_at_risk: 0,
            sla_breached: 0,
        };
        for q in self.config.sla_ms.keys() {
            stats.insert(q, blank(q));
        }
        // Per queue: the distinct (channel, requirements) of its waiting tickets.
        let mut needs: BTreeMap<&QueueName, BTreeSet<Need<'_>>> = BTreeMap::new();
        for t in self.tickets.values() {
            let s = stats.entry(&t.queue).or_insert_with(|| blank(&t.queue));
            s.waiting += 1;
            let waited = now.saturating_sub(t.queued_at).max(0);
            s.longest_wait_ms = s.longest_wait_ms.max(waited);
            if matches!(t.state, State::Offered { .. }) {
                s.offered += 1;
            } else {
                needs.entry(&t.queue).or_default().insert((ch(t.channel), &t.req));
            }
            if let Some(&sla) = self.config.sla_ms.get(&t.queue) {
                if waited.saturating_mul(100) > sla.saturating_mul(i64::from(self.config.sla_warning_percent)) {
                    s.sla_at_risk += 1;
                }
                if waited > sla {
                    s.sla_breached += 1;
                }
            }
        }
        let ready: Vec<&Agent> = self.agents.iter().flatten().filter(|a| a.indexed.is_some()).collect();
        for (q, s) in &mut stats {
            s.available_agents = match needs.get(q) {
                None => ready.len(),
                Some(n) => ready.iter().filter(|a| n.iter().any(|(c, req)| a.can_take(*c) && a.qualifies(req))).count(),
            };
        }
        stats.into_values().collect()
    }

    /// Every known agent now, by id: presence, skills, load and capacity per channel, and the
    /// tickets they are offered or hold.
    #[must_use]
    pub fn agent_stats(&self) -> Vec<AgentStats> {
        let names: BTreeMap<usize, &schema::SkillName> = self.skill_ids.iter().map(|(n, i)| (*i, n)).collect();
        self.agent_slot
            .values()
            .filter_map(|&slot| self.agents.get(slot).and_then(Option::as_ref))
            .map(|a| {
                let per_channel = |v: &dyn Fn(usize) -> u16| -> BTreeMap<Channel, u8> {
                    CHANNELS
                        .iter()
                        .filter(|c| v(ch(**c)) > 0)
                        .map(|c| (*c, u8::try_from(v(ch(*c))).unwrap_or(u8::MAX)))
                        .collect()
                };
                let offered = a.offers.iter().filter_map(|id| {
                    self.tickets.get(id).map(|t| AgentTicket { ticket: *id, channel: t.channel, offered: true })
                });
                let assigned = a.assigned.iter().filter_map(|id| {
                    self.assigned.get(id).map(|(_, c)| AgentTicket { ticket: *id, channel: *c, offered: false })
                });
                AgentStats {
                    id: a.id,
                    presence: a.presence,
                    skills: a
                        .skills
                        .iter()
                        .filter_map(|(s, l)| {
                            Some(((*names.get(s)?).clone(), SkillLevel::try_from(i64::from(*l)).ok()?))
                        })
                        .collect(),
                    load: per_channel(&|c| a.load[c]),
                    capacity: per_channel(&|c| u16::from(a.limits[c])),
                    tickets: offered.chain(assigned).collect(),
                }
            })
            .collect()
    }

    /// An agent's presence, if known.
    #[must_use]
    pub fn presence(&self, agent: AgentId) -> Option<Presence> {
        self.agent(agent).map(|a| a.presence)
    }

    /// An agent's offered and assigned tickets per channel (channels with none left out).
    #[must_use]
    pub fn agent_load(&self, agent: AgentId) -> Option<BTreeMap<Channel, u8>> {
        self.agent(agent).map(|a| {
            CHANNELS
                .iter()
                .filter(|c| a.load[ch(**c)] > 0)
                .map(|c| (*c, u8::try_from(a.load[ch(*c)]).unwrap_or(u8::MAX)))
                .collect()
        })
    }

    /// The live offer of a ticket: agent and expiry.
    #[must_use]
    pub fn offer_of(&self, ticket: TicketId) -> Option<(AgentId, Millis)> {
        match self.tickets.get(&ticket)?.state {
            State::Offered { agent, expires_at } => Some((agent, expires_at)),
            State::Waiting => None,
        }
    }

    /// The earliest offer expiry or escalation step: when the hub should next send a Tick.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Millis> {
        let e = self.expiries.first().map(|x| x.0);
        let s = self.escalations.first().map(|x| x.0);
        match (e, s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn due(queued_at: Millis, step: &EscalationStep) -> Millis {
    queued_at.saturating_add(Millis::from(step.after_secs()) * 1000)
}

#[cfg(test)]
mod tests {
    use schema::{Capacity, Priority, SkillName};

    use super::*;

    fn aid(n: u32) -> AgentId {
        format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
    }
    fn tid(n: u32) -> TicketId {
        format!("00000000-0000-7000-9000-{n:012x}").parse().unwrap()
    }
    fn q(s: &str) -> QueueName {
        s.parse().unwrap()
    }
    fn sk(s: &str) -> SkillName {
        s.parse().unwrap()
    }
    fn req(s: &str, l: i64) -> SkillRequirement {
        SkillRequirement { skill: sk(s), level: SkillLevel::try_from(l).unwrap() }
    }
    fn profile(n: u32, skills: &[(&str, i64)]) -> AgentProfile {
        AgentProfile {
            id: aid(n),
            skills: skills.iter().map(|(s, l)| (sk(s), SkillLevel::try_from(*l).unwrap())).collect(),
            capacity: Capacity::default(),
        }
    }
    fn ticket(n: u32, channel: Channel, prio: i64, skills: Vec<SkillRequirement>, at: Millis) -> TicketRequest {
        TicketRequest {
            id: tid(n),
            queue: q("support"),
            channel,
            priority: Priority::try_from(prio).unwrap(),
            skills,
            queued_at: at,
            escalation: vec![],
        }
    }
    fn engine() -> Engine {
        Engine::new(EngineConfig::default())
    }
    fn add(e: &mut Engine, now: Millis, p: AgentProfile) -> Vec<Decision> {
        let id = p.id;
        e.handle(now, Input::AgentUpdated(p)).unwrap();
        e.handle(now, Input::PresenceChanged { agent: id, presence: Presence::Available }).unwrap()
    }
    fn offers(d: &[Decision]) -> Vec<(TicketId, AgentId)> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Offer { ticket, agent, .. } => Some((*ticket, *agent)),
                _ => None,
            })
            .collect()
    }
    fn queue(e: &mut Engine, now: Millis, t: TicketRequest) -> Vec<Decision> {
        e.handle(now, Input::TicketQueued(t)).unwrap()
    }

    #[test]
    fn skill_level_must_be_met() {
        let mut e = engine();
        add(&mut e, 0, profile(1, &[("billing", 4)]));
        let d = queue(&mut e, 1, ticket(1, Channel::WebChat, 3, vec![req("billing", 5)], 1));
        assert!(d.is_empty());
        let d = add(&mut e, 2, profile(2, &[("billing", 5)]));
        assert_eq!(offers(&d), [(tid(1), aid(2))]);
    }

    #[test]
    fn two_skills_sharing_a_mask_bit_are_still_told_apart() {
        let mut e = engine();
        // An agent never available interns k00..k64 as 0..64: k00 and k64 share a mask bit.
        let names: Vec<String> = (0..=64).map(|i| format!("k{i:02}")).collect();
        let all: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        e.handle(0, Input::AgentUpdated(profile(9, &all))).unwrap();
        // 1 has k64 and k01 (its mask passes for k00 + k01), ranked first on k01; 2 has both.
        add(&mut e, 0, profile(1, &[("k64", 9), ("k01", 9)]));
        add(&mut e, 0, profile(2, &[("k00", 2), ("k01", 2)]));
        add(&mut e, 0, profile(3, &[("k00", 9)]));
        let d = queue(&mut e, 1, ticket(1, Channel::WebChat, 3, vec![req("k01", 1), req("k00", 1)], 1));
        assert_eq!(offers(&d), [(tid(1), aid(2))], "the only agent holding both skills");
    }

    #[test]
    fn best_match_then_longest_idle_then_id() {
        let mut e = engine();
        add(&mut e, 10, profile(1, &[("billing", 5), ("tech", 5)]));
        add(&mut e, 5, profile(2, &[("billing", 9), ("tech", 2)]));
        add(&mut e, 0, profile(3, &[("billing", 6), ("tech", 6)]));
        add(&mut e, 0, profile(4, &[("billing", 6), ("tech", 6)]));
        add(&mut e, 0, profile(5, &[("billing", 9)]));
        let two = || vec![req("billing", 2), req("tech", 2)];
        // 3 and 4 score 12, tie on idle: lower id.
        let d = queue(&mut e, 20, ticket(1, Channel::WebChat, 3, two(), 20));
        assert_eq!(offers(&d), [(tid(1), aid(3))]);
        // 3 has work but room left, scores 12 and keeps its idle time: it wins again.
        let d = queue(&mut e, 21, ticket(2, Channel::WebChat, 3, two(), 21));
        assert_eq!(offers(&d), [(tid(2), aid(3))]);
        // Make 3 full (3 web chats), then 4 (12) beats 2 (11) and 1 (10).
        queue(&mut e, 22, ticket(3, Channel::WebChat, 3, two(), 22));
        let d = queue(&mut e, 23, ticket(4, Channel::WebChat, 3, two(), 23));
        assert_eq!(offers(&d), [(tid(4), aid(4))]);
        // Longest idle among equal scores: 1 (idle since 10) vs a new agent 6 idle since 30.
        e.handle(30, Input::AgentUpdated(profile(6, &[("sales", 3)]))).unwrap();
        add(&mut e, 30, profile(7, &[("sales", 3)]));
        e.handle(31, Input::PresenceChanged { agent: aid(6), presence: Presence::Available }).unwrap();
        let d = queue(&mut e, 40, ticket(5, Channel::WebChat, 3, vec![req("sales", 1)], 40));
        assert_eq!(offers(&d), [(tid(5), aid(7))]);
        // No skills required: everyone scores 0; 3, 4 and 5 idle since 0: the lowest id wins.
        let d = queue(&mut e, 41, ticket(6, Channel::Email, 3, vec![], 41));
        assert_eq!(offers(&d), [(tid(6), aid(3))]);
    }

    #[test]
    fn capacity_per_channel() {
        let mut e = engine();
        let mut p = profile(1, &[]);
        p.capacity.limits = [(Channel::Email, 1), (Channel::WebChat, 2)].into_iter().collect();
        add(&mut e, 0, p);
        let d = queue(&mut e, 1, ticket(1, Channel::Email, 3, vec![], 1));
        assert_eq!(offers(&d).len(), 1);
        assert!(queue(&mut e, 2, ticket(2, Channel::Email, 3, vec![], 2)).is_empty());
        assert_eq!(offers(&queue(&mut e, 3, ticket(3, Channel::WebChat, 3, vec![], 3))).len(), 1);
        // No WhatsApp limit: never gets it.
        assert!(queue(&mut e, 4, ticket(4, Channel::WhatsApp, 3, vec![], 4)).is_empty());
        let load = e.agent_load(aid(1)).unwrap();
        assert_eq!(load.get(&Channel::Email), Some(&1));
        assert_eq!(load.get(&Channel::WebChat), Some(&1));
    }

    #[test]
    fn voice_is_exclusive_both_ways() {
        let mut e = engine();
        add(&mut e, 0, profile(1, &[]));
        assert_eq!(offers(&queue(&mut e, 1, ticket(1, Channel::WebChat, 3, vec![], 1))).len(), 1);
        // Holding a chat: no call.
        assert!(queue(&mut e, 2, ticket(2, Channel::Voice, 3, vec![], 2)).is_empty());
        // Chat done: the call is offered.
        let d = e.handle(3, Input::TicketRemoved(tid(1))).unwrap();
        assert_eq!(offers(&d), [(tid(2), aid(1))]);
        // On a call: no chat.
        assert!(queue(&mut e, 4, ticket(3, Channel::WebChat, 3, vec![], 4)).is_empty());
        let d = e.handle(5, Input::TicketRemoved(tid(2))).unwrap();
        assert_eq!(offers(&d), [(tid(3), aid(1))]);
    }

    #[test]
    fn aging_overtakes_priority_after_the_right_time() {
        let mut e = engine();
        let aging = e.config().aging_ms_per_level;
        let mut p = profile(1, &[]);
        p.capacity.limits = [(Channel::Email, 1)].into_iter().collect();
        add(&mut e, 0, p);
        queue(&mut e, 0, ticket(9, Channel::Email, 3, vec![], 0)); // occupies the agent
        queue(&mut e, 0, ticket(1, Channel::Email, 2, vec![], 0));
        // Fresh priority-3 ticket queued after one aging step plus 1 ms: the old one wins.
        queue(&mut e, aging + 1, ticket(2, Channel::Email, 3, vec![], aging + 1));
        let d = e.handle(aging + 2, Input::TicketRemoved(tid(9))).unwrap();
        assert_eq!(offers(&d), [(tid(1), aid(1))]);
        e.handle(aging + 3, Input::TicketRemoved(tid(1))).unwrap();
        // Before one aging step, the higher priority wins.
        queue(&mut e, aging + 4, ticket(3, Channel::Email, 2, vec![], aging + 4));
        queue(&mut e, aging + 5, ticket(4, Channel::Email, 3, vec![], 2 * aging));
        let d = e.handle(2 * aging, Input::TicketRemoved(tid(2))).unwrap();
        assert_eq!(offers(&d), [(tid(4), aid(1))]);
    }

    #[test]
    fn timeout_goes_to_the_next_agent_and_three_misses_set_away() {
        let mut e = engine();
        let timeout = e.config().offer_timeout_ms;
        add(&mut e, 0, profile(1, &[("tech", 9)]));
        add(&mut e, 1, profile(2, &[("tech", 5)]));
        let d = queue(&mut e, 2, ticket(1, Channel::WebChat, 3, vec![req("tech", 1)], 2));
        assert_eq!(d, [Decision::Offer { ticket: tid(1), agent: aid(1), expires_at: 2 + timeout }]);
        assert_eq!(e.next_deadline(), Some(2 + timeout));
        assert!(e.handle(1 + timeout, Input::Tick).unwrap().is_empty());
        let d = e.handle(2 + timeout, Input::Tick).unwrap();
        assert_eq!(d[0], Decision::OfferEnded { ticket: tid(1), agent: aid(1), reason: OfferEnd::TimedOut });
        assert_eq!(offers(&d), [(tid(1), aid(2))]);
        // Agent 1 misses two more.
        let mut now = 2 + timeout;
        for n in 2..=3 {
            now += 1;
            let d = queue(&mut e, now, ticket(n, Channel::WebChat, 3, vec![req("tech", 1)], now));
            assert_eq!(offers(&d), [(tid(n), aid(1))]);
            now += timeout;
            let d = e.handle(now, Input::Tick).unwrap();
            if n == 3 {
                assert!(d.contains(&Decision::SetAway { agent: aid(1) }), "{d:?}");
                assert_eq!(e.presence(aid(1)), Some(Presence::Away));
            } else {
                assert!(!d.contains(&Decision::SetAway { agent: aid(1) }));
            }
        }
    }

    #[test]
    fn reject_goes_to_the_next_agent_and_cycles_when_all_declined() {
        let mut e = engine();
        add(&mut e, 0, profile(1, &[("tech", 9)]));
        add(&mut e, 1, profile(2, &[("tech", 5)]));
        queue(&mut e, 2, ticket(1, Channel::WebChat, 3, vec![req("tech", 1)], 2));
        let d = e.handle(3, Input::OfferRejected { ticket: tid(1), agent: aid(1) }).unwrap();
        assert_eq!(d[0], Decision::OfferEnded { ticket: tid(1), agent: aid(1), reason: OfferEnd::Rejected });
        assert_eq!(offers(&d), [(tid(1), aid(2))]);
        let d = e.handle(4, Input::OfferRejected { ticket: tid(1), agent: aid(2) }).unwrap();
        assert_eq!(offers(&d), [(tid(1), aid(1))]);
        assert_eq!(
            e.handle(5, Input::OfferRejected { ticket: tid(1), agent: aid(2) }),
            Err(EngineError::NoSuchOffer { ticket: tid(1), agent: aid(2) })
        );
    }

    #[test]
    fn accept_assigns_and_expired_accept_is_refused() {
        let mut e = engine();
        let timeout = e.config().offer_timeout_ms;
        add(&mut e, 0, profile(1, &[]));
        queue(&mut e, 1, ticket(1, Channel::WebChat, 3, vec![], 1));
        queue(&mut e, 1, ticket(2, Channel::WebChat, 3, vec![], 1));
        let d = e.handle(2, Input::OfferAccepted { ticket: tid(1), agent: aid(1) }).unwrap();
        assert_eq!(d, [Decision::Assign { ticket: tid(1), agent: aid(1) }]);
        assert_eq!(e.offer_of(tid(1)), None);
        assert_eq!(e.agent_load(aid(1)).unwrap().get(&Channel::WebChat), Some(&2));
        assert_eq!(
            e.handle(1 + timeout, Input::OfferAccepted { ticket: tid(2), agent: aid(1) }),
            Err(EngineError::NoSuchOffer { ticket: tid(2), agent: aid(1) })
        );
        assert_eq!(
            e.handle(3, Input::OfferAccepted { ticket: tid(1), agent: aid(1) }),
            Err(EngineError::NoSuchOffer { ticket: tid(1), agent: aid(1) })
        );
        assert_eq!(
            e.handle(3, Input::OfferAccepted { ticket: tid(7), agent: aid(1) }),
            Err(EngineError::UnknownTicket(tid(7)))
        );
        assert_eq!(e.handle(3, Input::TicketRemoved(tid(7))), Err(EngineError::UnknownTicket(tid(7))));
        assert_eq!(
            e.handle(3, Input::TicketQueued(ticket(1, Channel::Email, 3, vec![], 3))),
            Err(EngineError::AlreadyKnown(tid(1)))
        );
        assert_eq!(
            e.handle(3, Input::PresenceChanged { agent: aid(9), presence: Presence::Away }),
            Err(EngineError::UnknownAgent(aid(9)))
        );
    }

    #[test]
    fn escalation_widens_then_overflows() {
        let mut e = engine();
        add(&mut e, 0, profile(1, &[("tech", 3)]));
        let mut t = ticket(1, Channel::WebChat, 3, vec![req("tech", 5)], 0);
        t.escalation = vec![
            EscalationStep::WidenSkills { after_secs: 60, by: 1 },
            EscalationStep::WidenSkills { after_secs: 120, by: 1 },
            EscalationStep::Overflow { after_secs: 300, queue: q("general") },
        ];
        assert!(queue(&mut e, 0, t).is_empty());
        assert_eq!(e.next_deadline(), Some(60_000));
        let d = e.handle(60_000, Input::Tick).unwrap();
        assert_eq!(
            d,
            [Decision::Escalate {
                ticket: tid(1),
                step: EscalationStep::WidenSkills { after_secs: 60, by: 1 },
                queue: q("support"),
                skills: vec![req("tech", 4)],
            }]
        );
        let d = e.handle(120_000, Input::Tick).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(offers(&d), [(tid(1), aid(1))]);
        // The offer stays live through the overflow.
        let d = e.handle(300_000, Input::Tick).unwrap();
        assert!(d.iter().any(|d| matches!(d, Decision::Escalate { queue, .. } if *queue == q("general"))), "{d:?}");
        let stats = e.queue_stats(300_000);
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].queue.as_str(), stats[0].waiting, stats[0].offered), ("general", 1, 1));
    }

    #[test]
    fn sla_at_risk_and_breached_and_agents_for_supervisors() {
        let mut cfg = EngineConfig::default();
        cfg.sla_ms.insert(q("support"), 100_000);
        let mut e = Engine::new(cfg);
        let mut p = profile(1, &[("billing", 4)]);
        p.capacity.limits = [(Channel::Email, 2), (Channel::WebChat, 1)].into_iter().collect();
        add(&mut e, 0, p);
        e.handle(0, Input::AgentUpdated(profile(2, &[("tech", 3)]))).unwrap();
        // Ticket 1 goes to agent 1 and is accepted; 2 is offered; 3 and 4 wait (tech 9: nobody).
        queue(&mut e, 0, ticket(1, Channel::Email, 3, vec![], 0));
        e.handle(1, Input::OfferAccepted { ticket: tid(1), agent: aid(1) }).unwrap();
        queue(&mut e, 1, ticket(2, Channel::WebChat, 3, vec![], 1));
        queue(&mut e, 50_000, ticket(3, Channel::Email, 3, vec![req("tech", 9)], 50_000));
        queue(&mut e, 95_000, ticket(4, Channel::Email, 3, vec![req("tech", 9)], 95_000));
        // At 130 s: ticket 2 waited 130 s (breached, at risk), 3 waited 80 s (not past 80%),
        // 4 waited 35 s. At 140 s, 3 is at risk (90 s) but not breached.
        let stats = e.queue_stats(130_000);
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!((s.waiting, s.offered, s.sla_at_risk, s.sla_breached), (3, 1, 1, 1));
        assert_eq!(s.longest_wait_ms, 129_999);
        let stats = e.queue_stats(140_000);
        assert_eq!((stats[0].sla_at_risk, stats[0].sla_breached), (2, 1));

        let agents = e.agent_stats();
        assert_eq!(agents.len(), 2);
        let a = &agents[0];
        assert_eq!((a.id, a.presence), (aid(1), Presence::Available));
        assert_eq!(a.skills.get(&sk("billing")).map(|l| l.get()), Some(4));
        assert_eq!(a.load, [(Channel::WebChat, 1), (Channel::Email, 1)].into_iter().collect());
        assert_eq!(a.capacity, [(Channel::WebChat, 1), (Channel::Email, 2)].into_iter().collect());
        assert_eq!(
            a.tickets,
            [
                AgentTicket { ticket: tid(2), channel: Channel::WebChat, offered: true },
                AgentTicket { ticket: tid(1), channel: Channel::Email, offered: false },
            ]
        );
        let b = &agents[1];
        assert_eq!((b.id, b.presence, b.tickets.len()), (aid(2), Presence::Offline, 0));
        assert!(b.load.is_empty());
    }

    #[test]
    fn removal_frees_capacity_and_offers_the_next_ticket() {
        let mut e = engine();
        let mut p = profile(1, &[]);
        p.capacity.limits = [(Channel::Email, 1)].into_iter().collect();
        add(&mut e, 0, p);
        queue(&mut e, 1, ticket(1, Channel::Email, 3, vec![], 1));
        e.handle(2, Input::OfferAccepted { ticket: tid(1), agent: aid(1) }).unwrap();
        assert!(queue(&mut e, 3, ticket(2, Channel::Email, 3, vec![], 3)).is_empty());
        let d = e.handle(4, Input::TicketRemoved(tid(1))).unwrap();
        assert_eq!(offers(&d), [(tid(2), aid(1))]);
        // Removing an offered ticket ends the offer.
        let d = e.handle(5, Input::TicketRemoved(tid(2))).unwrap();
        assert_eq!(d, [Decision::OfferEnded { ticket: tid(2), agent: aid(1), reason: OfferEnd::TicketRemoved }]);
        assert_eq!(e.agent_load(aid(1)), Some(BTreeMap::new()));
    }

    #[test]
    fn presence_change_and_removal_end_offers() {
        let mut e = engine();
        add(&mut e, 0, profile(1, &[]));
        queue(&mut e, 1, ticket(1, Channel::WebChat, 3, vec![], 1));
        let d = e.handle(2, Input::PresenceChanged { agent: aid(1), presence: Presence::Busy }).unwrap();
        assert_eq!(d, [Decision::OfferEnded { ticket: tid(1), agent: aid(1), reason: OfferEnd::AgentLeft }]);
        add(&mut e, 3, profile(2, &[]));
        assert_eq!(e.offer_of(tid(1)).map(|o| o.0), Some(aid(2)));
        let d = e.handle(4, Input::AgentRemoved(aid(2))).unwrap();
        assert_eq!(d, [Decision::OfferEnded { ticket: tid(1), agent: aid(2), reason: OfferEnd::AgentLeft }]);
        let d = e.handle(5, Input::PresenceChanged { agent: aid(1), presence: Presence::Available }).unwrap();
        assert_eq!(offers(&d), [(tid(1), aid(1))]);
        // A forced assignment counts even beyond capacity.
        for n in 10..14 {
            e.handle(6, Input::TicketAssigned { ticket: tid(n), agent: aid(1), channel: Channel::Email }).unwrap();
        }
        assert_eq!(e.agent_load(aid(1)).unwrap().get(&Channel::Email), Some(&4));
        assert_eq!(
            e.handle(6, Input::TicketAssigned { ticket: tid(10), agent: aid(1), channel: Channel::Email }),
            Err(EngineError::AlreadyKnown(tid(10)))
        );
    }
}
