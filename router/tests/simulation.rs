//! A day of synthetic traffic through the engine, checking its promises after every step.
//!
//! Poisson arrivals on several channels, skills with levels, priorities, escalation chains;
//! agents on shifts with breaks, who accept after a delay, sometimes reject, sometimes let
//! offers time out; tickets resolved after a random handling time. A Tick every simulated
//! second. A step that returns no decision changes nothing in the engine, so the full checks
//! run after every step that had an input other than Tick or produced decisions; the
//! starvation check runs every simulated 10 s as well.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::panic)]

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use router::{
    AgentProfile, Capacity, Decision, Engine, EngineConfig, EngineError, EscalationStep, Input, Millis,
    SkillRequirement, TicketRequest,
};
use schema::{AgentId, Channel, Presence, Priority, QueueName, SkillLevel, SkillName, TicketId};

const DAY_MS: Millis = 86_400_000;
const SKILLS: [&str; 6] = ["billing", "tech", "sales", "spanish", "portuguese", "voice"];
/// A ticket past its last escalation step by this much must not wait while a qualified agent
/// with room is available.
const STARVATION_BOUND_MS: Millis = 60_000;

fn aid(n: u32) -> AgentId {
    format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
}
fn tid(n: u32) -> TicketId {
    format!("00000000-0000-7000-9000-{n:012x}").parse().unwrap()
}
fn sk(s: &str) -> SkillName {
    s.parse().unwrap()
}
fn q(s: &str) -> QueueName {
    s.parse().unwrap()
}
fn level(n: u8) -> SkillLevel {
    SkillLevel::try_from(i64::from(n)).unwrap()
}
fn exp_sample(rng: &mut StdRng, mean_ms: f64) -> Millis {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    (-u.ln() * mean_ms) as Millis
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    ShiftStart(u32),
    ShiftEnd(u32),
    BreakStart(u32),
    BreakEnd(u32),
    BackFromAway(u32),
    Accept(TicketId, AgentId),
    Reject(TicketId, AgentId),
    Resolve(TicketId),
}

#[derive(Debug)]
struct SimTicket {
    channel: Channel,
    skills: Vec<SkillRequirement>,
    queued_at: Millis,
    last_step_ms: Millis,
    offered_to: Option<AgentId>,
    assigned_to: Option<AgentId>,
}

#[derive(Debug)]
struct SimAgent {
    profile: AgentProfile,
    on_shift: bool,
    on_break: bool,
}

#[derive(Debug, Default)]
struct Summary {
    tickets: usize,
    assigned: usize,
    total_wait_ms: i64,
    max_wait_ms: i64,
    decisions: usize,
}

fn qualifies(a: &AgentProfile, skills: &[SkillRequirement]) -> bool {
    skills.iter().all(|r| a.skills.get(&r.skill).is_some_and(|l| *l >= r.level))
}

fn has_room(a: &AgentProfile, load: &BTreeMap<Channel, u8>, c: Channel) -> bool {
    let limit = a.capacity.limits.get(&c).copied().unwrap_or(0);
    let held = load.get(&c).copied().unwrap_or(0);
    let total: u32 = load.values().map(|v| u32::from(*v)).sum();
    let exclusive_held = load.iter().any(|(ch, n)| *n > 0 && a.capacity.exclusive.contains(ch));
    limit > 0 && held < limit && !exclusive_held && (!a.capacity.exclusive.contains(&c) || total == 0)
}

struct Sim {
    rng: StdRng,
    engine: Engine,
    agents: BTreeMap<AgentId, SimAgent>,
    tickets: BTreeMap<TicketId, SimTicket>,
    events: BTreeMap<(Millis, u64), Event>,
    seq: u64,
    next_ticket: u32,
    log: Vec<(Millis, Decision)>,
    summary: Summary,
    /// Whether to run the checks (the determinism rerun skips them).
    checks: bool,
}

impl Sim {
    fn new(seed: u64, agents: u32, checks: bool) -> Self {
        let config = EngineConfig {
            sla_ms: [(q("general"), 120_000), (q("billing"), 60_000)].into_iter().collect(),
            ..EngineConfig::default()
        };
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(seed),
            engine: Engine::new(config),
            agents: BTreeMap::new(),
            tickets: BTreeMap::new(),
            events: BTreeMap::new(),
            seq: 0,
            next_ticket: 0,
            log: Vec::new(),
            summary: Summary::default(),
            checks,
        };
        for n in 0..agents {
            let mut skills = BTreeMap::new();
            // Everyone has one of the three main skills; more at random.
            skills.insert(sk(SKILLS[n as usize % 3]), level(sim.rng.gen_range(4..=10)));
            for s in SKILLS {
                if sim.rng.gen_bool(0.3) {
                    skills.insert(sk(s), level(sim.rng.gen_range(2..=10)));
                }
            }
            let limits = [
                (Channel::WebChat, sim.rng.gen_range(1..=3)),
                (Channel::Email, sim.rng.gen_range(0..=2)),
                (Channel::WhatsApp, sim.rng.gen_range(0..=3)),
                (Channel::Voice, u8::from(skills.contains_key(&sk("voice")))),
            ]
            .into_iter()
            .collect();
            let capacity = Capacity { limits, ..Capacity::default() };
            let profile = AgentProfile { id: aid(n), skills, capacity };
            sim.step(0, Input::AgentUpdated(profile.clone()));
            sim.agents.insert(aid(n), SimAgent { profile, on_shift: false, on_break: false });
            // Shifts of 8 to 10 hours covering the day, with a break.
            let start = Millis::from(n % 4) * 6 * 3_600_000 - 2 * 3_600_000 + sim.rng.gen_range(0..3_600_000);
            let start = start.max(0);
            let end = (start + sim.rng.gen_range(8 * 3_600_000..10 * 3_600_000)).min(DAY_MS + 1);
            sim.at(start, Event::ShiftStart(n));
            sim.at(end, Event::ShiftEnd(n));
            let brk = start + sim.rng.gen_range(2 * 3_600_000..5 * 3_600_000);
            sim.at(brk, Event::BreakStart(n));
            sim.at(brk + 900_000, Event::BreakEnd(n));
        }
        sim.at(0, Event::Arrival);
        sim
    }

    fn at(&mut self, when: Millis, event: Event) {
        self.seq += 1;
        self.events.insert((when, self.seq), event);
    }

    fn new_ticket(&mut self, now: Millis) -> TicketRequest {
        let rng = &mut self.rng;
        let channel = match rng.gen_range(0..100) {
            0..40 => Channel::WebChat,
            40..65 => Channel::Email,
            65..85 => Channel::WhatsApp,
            _ => Channel::Voice,
        };
        let main = SKILLS[rng.gen_range(0..3)];
        let mut skills = vec![SkillRequirement { skill: sk(main), level: level(rng.gen_range(3..=8)) }];
        if rng.gen_bool(0.2) {
            let lang = if rng.gen_bool(0.5) { "spanish" } else { "portuguese" };
            skills.push(SkillRequirement { skill: sk(lang), level: level(rng.gen_range(2..=6)) });
        }
        if channel == Channel::Voice {
            skills.push(SkillRequirement { skill: sk("voice"), level: level(rng.gen_range(1..=5)) });
        }
        let escalation = vec![
            EscalationStep::WidenSkills { after_secs: 60, by: 2 },
            EscalationStep::Overflow { after_secs: 300, queue: q("general") },
            EscalationStep::WidenSkills { after_secs: 600, by: 10 },
        ];
        let queue = q(match main {
            "billing" => "billing",
            "tech" => "tech",
            _ => "sales",
        });
        self.next_ticket += 1;
        TicketRequest {
            id: tid(self.next_ticket),
            queue,
            channel,
            priority: Priority::try_from(rng.gen_range(1..=5)).unwrap(),
            skills,
            queued_at: now,
            escalation,
        }
    }

    /// Feeds one input, records and checks its decisions; returns whether anything happened.
    fn step(&mut self, now: Millis, input: Input) -> bool {
        let is_tick = input == Input::Tick;
        let answer = self.engine.handle(now, input.clone());
        let decisions = match answer {
            Ok(d) => d,
            Err(e) => {
                // Only stale answers to offers may be refused.
                assert!(
                    matches!(input, Input::OfferAccepted { .. } | Input::OfferRejected { .. })
                        && matches!(e, EngineError::NoSuchOffer { .. } | EngineError::UnknownTicket(_)),
                    "{input:?} refused: {e}"
                );
                return false;
            }
        };
        let changed = !is_tick || !decisions.is_empty();
        for d in decisions {
            self.observe(now, &d);
            self.log.push((now, d));
        }
        if changed && self.checks {
            self.check(now);
        }
        changed
    }

    fn observe(&mut self, now: Millis, d: &Decision) {
        self.summary.decisions += 1;
        match d {
            Decision::Offer { ticket, agent, expires_at } => {
                let t = self.tickets.get_mut(ticket).expect("offer of an unknown ticket");
                assert!(t.offered_to.is_none() && t.assigned_to.is_none(), "second live offer for {ticket}");
                let a = &self.agents[agent];
                assert!(qualifies(&a.profile, &t.skills), "{agent} lacks the skills for {ticket}: {:?}", t.skills);
                assert_eq!(self.engine.presence(*agent), Some(Presence::Available));
                assert_eq!(*expires_at, now + self.engine.config().offer_timeout_ms);
                t.offered_to = Some(*agent);
                // The agent's behaviour.
                let roll = self.rng.gen_range(0..100);
                if roll < 80 {
                    let delay = self.rng.gen_range(1_000..15_000);
                    self.at(now + delay, Event::Accept(*ticket, *agent));
                } else if roll < 90 {
                    let delay = self.rng.gen_range(1_000..5_000);
                    self.at(now + delay, Event::Reject(*ticket, *agent));
                }
            }
            Decision::Assign { ticket, agent } => {
                let t = self.tickets.get_mut(ticket).expect("assign of an unknown ticket");
                assert_eq!(t.offered_to, Some(*agent));
                t.offered_to = None;
                t.assigned_to = Some(*agent);
                let wait = now - t.queued_at;
                self.summary.assigned += 1;
                self.summary.total_wait_ms += wait;
                self.summary.max_wait_ms = self.summary.max_wait_ms.max(wait);
                let mean = if t.channel == Channel::Email { 900_000.0 } else { 300_000.0 };
                let handling = exp_sample(&mut self.rng, mean).max(10_000);
                self.at(now + handling, Event::Resolve(*ticket));
            }
            Decision::OfferEnded { ticket, agent, .. } => {
                let t = self.tickets.get_mut(ticket).expect("offer end of an unknown ticket");
                assert_eq!(t.offered_to, Some(*agent));
                t.offered_to = None;
            }
            Decision::SetAway { agent } => {
                self.at(now + 300_000, Event::BackFromAway(agent_no(agent)));
            }
            Decision::Escalate { ticket, skills, .. } => {
                let t = self.tickets.get_mut(ticket).expect("escalation of an unknown ticket");
                assert!(t.assigned_to.is_none());
                t.skills.clone_from(skills);
            }
        }
    }

    fn check(&self, now: Millis) {
        let mut expected: BTreeMap<AgentId, BTreeMap<Channel, u8>> = BTreeMap::new();
        for (id, t) in &self.tickets {
            if let Some(a) = t.offered_to.or(t.assigned_to) {
                *expected.entry(a).or_default().entry(t.channel).or_default() += 1;
            }
            let live = self.engine.offer_of(*id).map(|o| o.0);
            assert_eq!(live, t.offered_to, "live offer of {id}");
            if let Some(a) = live {
                assert_eq!(self.engine.presence(a), Some(Presence::Available), "offer to a non-available agent");
                assert!(qualifies(&self.agents[&a].profile, &t.skills));
            }
        }
        for (id, a) in &self.agents {
            let load = self.engine.agent_load(*id).expect("agent known");
            assert_eq!(load, expected.remove(id).unwrap_or_default(), "load of {id}");
            for (c, n) in &load {
                let limit = a.profile.capacity.limits.get(c).copied().unwrap_or(0);
                assert!(*n <= limit, "{id} over capacity on {c}: {n} > {limit}");
                if a.profile.capacity.exclusive.contains(c) {
                    assert_eq!(load.values().map(|v| u32::from(*v)).sum::<u32>(), u32::from(*n), "exclusivity");
                }
            }
        }
        self.check_starvation(now);
    }

    fn check_starvation(&self, now: Millis) {
        let ready: Vec<(&SimAgent, BTreeMap<Channel, u8>)> = self
            .agents
            .iter()
            .filter(|(id, _)| self.engine.presence(**id) == Some(Presence::Available))
            .map(|(id, a)| (a, self.engine.agent_load(*id).unwrap_or_default()))
            .collect();
        for (id, t) in &self.tickets {
            if t.offered_to.is_some()
                || t.assigned_to.is_some()
                || now - t.queued_at <= t.last_step_ms + STARVATION_BOUND_MS
            {
                continue;
            }
            for (a, load) in &ready {
                assert!(
                    !(qualifies(&a.profile, &t.skills) && has_room(&a.profile, load, t.channel)),
                    "{id} starves at {now} while {} could take it",
                    a.profile.id
                );
            }
        }
    }

    fn run(mut self) -> (Vec<(Millis, Decision)>, Summary) {
        let mut now: Millis = 0;
        while now <= DAY_MS {
            while let Some(entry) = self.events.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let ((when, _), event) = entry.remove_entry();
                self.event(when.max(0), event);
            }
            self.step(now, Input::Tick);
            if self.checks && now % 10_000 == 0 {
                self.check_starvation(now);
            }
            now += 1_000;
        }
        self.summary.tickets += self.tickets.len();
        (self.log, self.summary)
    }

    fn event(&mut self, now: Millis, event: Event) {
        let presence = |n: u32, p: Presence| Input::PresenceChanged { agent: aid(n), presence: p };
        match event {
            Event::Arrival => {
                let req = self.new_ticket(now);
                let last_step_ms = req.escalation.last().map_or(0, |s| Millis::from(s.after_secs()) * 1000);
                self.tickets.insert(
                    req.id,
                    SimTicket {
                        channel: req.channel,
                        skills: req.skills.clone(),
                        queued_at: now,
                        last_step_ms,
                        offered_to: None,
                        assigned_to: None,
                    },
                );
                self.step(now, Input::TicketQueued(req));
                let gap = exp_sample(&mut self.rng, 20_000.0).max(1);
                self.at(now + gap, Event::Arrival);
            }
            Event::ShiftStart(n) => {
                self.agents.get_mut(&aid(n)).expect("agent").on_shift = true;
                self.step(now, presence(n, Presence::Available));
            }
            Event::ShiftEnd(n) => {
                self.agents.get_mut(&aid(n)).expect("agent").on_shift = false;
                self.step(now, presence(n, Presence::Offline));
            }
            Event::BreakStart(n) => {
                let a = self.agents.get_mut(&aid(n)).expect("agent");
                if a.on_shift {
                    a.on_break = true;
                    self.step(now, presence(n, Presence::Away));
                }
            }
            Event::BreakEnd(n) | Event::BackFromAway(n) => {
                let a = self.agents.get_mut(&aid(n)).expect("agent");
                if matches!(event, Event::BreakEnd(_)) {
                    a.on_break = false;
                }
                if a.on_shift && !a.on_break {
                    self.step(now, presence(n, Presence::Available));
                }
            }
            Event::Accept(ticket, agent) => {
                self.step(now, Input::OfferAccepted { ticket, agent });
            }
            Event::Reject(ticket, agent) => {
                self.step(now, Input::OfferRejected { ticket, agent });
            }
            Event::Resolve(ticket) => {
                // Only assigned tickets are resolved, so no offer ends here.
                self.tickets.remove(&ticket);
                self.summary.tickets += 1;
                self.step(now, Input::TicketRemoved(ticket));
            }
        }
    }
}

fn agent_no(a: &AgentId) -> u32 {
    let s = a.to_string();
    u32::from_str_radix(&s[s.len() - 12..], 16).expect("sim agent id")
}

#[test]
fn a_day_of_traffic_keeps_every_promise_and_is_deterministic() {
    let agents = 50;
    let started = std::time::Instant::now();
    let (log, summary) = Sim::new(7, agents, true).run();
    let (log2, _) = Sim::new(7, agents, false).run();
    assert!(log == log2, "the same day gave different decisions");
    assert!(summary.assigned > 1_000, "{summary:?}");
    let mean = summary.total_wait_ms / i64::try_from(summary.assigned.max(1)).unwrap_or(1);
    println!(
        "simulated day: {} tickets, {} assigned, mean wait {:.1} s, max wait {:.1} s, {} decisions, {} agents, {:.1} s wall for two runs",
        summary.tickets,
        summary.assigned,
        mean as f64 / 1000.0,
        summary.max_wait_ms as f64 / 1000.0,
        summary.decisions,
        agents,
        started.elapsed().as_secs_f64()
    );
}
