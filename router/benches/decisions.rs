//! Latency of single routing decisions at scale.
//!
//! Setup: 10,000 agents, 50 skills (each agent 3 to 8 of them, levels 1 to 10); each agent can
//! hold 1 web chat and 2 e-mails. 9,500 agents are available and each holds one web chat (so
//! web chat is full everywhere), 500 are offline (a reserve). 1,000 web-chat tickets, each
//! needing one skill at level 1 to 3, wait because nobody has room. Then, at random:
//!
//! - `queue_email`: a new e-mail ticket needing 1 to 3 skills is queued; the best agent among
//!   the 10,000 is chosen and offered it.
//! - `finish_next`: an agent finishes its web chat (TicketRemoved); the best-ranked waiting
//!   web chat it qualifies for is offered to it.
//! - `available`: a reserve agent becomes available and is offered the best-ranked waiting
//!   web chat it qualifies for.
//! - `accept`: each offer is accepted (Assign).
//! - `other`: upkeep calls (replacement tickets, e-mails resolved, reserve agents going
//!   offline), timed too.
//!
//! Each `handle` call is timed with `Instant` into an HDR histogram (ns).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use router::{AgentProfile, Capacity, Decision, Engine, EngineConfig, Input, Millis, SkillRequirement, TicketRequest};
use schema::{AgentId, Channel, Presence, Priority, QueueName, SkillLevel, SkillName, TicketId};

const AGENTS: u32 = 10_000;
const RESERVE: u32 = 500;
const SKILLS: usize = 50;
const WAITING: usize = 1_000;
const ITERATIONS: usize = 12_000;

fn aid(n: u32) -> AgentId {
    format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
}

struct Bench {
    engine: Engine,
    rng: StdRng,
    skills: Vec<SkillName>,
    now: Millis,
    next_ticket: u64,
    channel_of: BTreeMap<TicketId, Channel>,
    /// Agent → its assigned web chat.
    webchat_of: BTreeMap<AgentId, TicketId>,
    emails: VecDeque<TicketId>,
    hists: BTreeMap<&'static str, Histogram<u64>>,
    decisions: usize,
}

impl Bench {
    fn tid(&mut self) -> TicketId {
        self.next_ticket += 1;
        format!("00000000-0000-7000-9000-{:012x}", self.next_ticket).parse().unwrap()
    }

    fn call(&mut self, scenario: &'static str, input: Input) -> Vec<Decision> {
        self.now += 1;
        let start = Instant::now();
        let d = self.engine.handle(self.now, input).expect("input accepted");
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.hists.entry(scenario).or_insert_with(|| Histogram::new(3).unwrap()).record(ns.max(1)).unwrap();
        self.decisions += d.len();
        d
    }

    /// Accepts every offer in `decisions`.
    fn settle(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            if let Decision::Offer { ticket, agent, .. } = d {
                let out = self.call("accept", Input::OfferAccepted { ticket, agent });
                assert!(matches!(out[..], [Decision::Assign { .. }]));
                match self.channel_of[&ticket] {
                    Channel::WebChat => {
                        self.webchat_of.insert(agent, ticket);
                    }
                    _ => self.emails.push_back(ticket),
                }
            }
        }
    }

    fn request(&mut self, channel: Channel, skills: usize, max_level: u8) -> TicketRequest {
        let id = self.tid();
        self.channel_of.insert(id, channel);
        let chosen: Vec<&SkillName> = self.skills.choose_multiple(&mut self.rng, skills).collect();
        let skills = chosen
            .into_iter()
            .map(|s| SkillRequirement {
                skill: s.clone(),
                level: SkillLevel::try_from(i64::from(self.rng.gen_range(1..=max_level))).unwrap(),
            })
            .collect();
        TicketRequest {
            id,
            queue: "support".parse::<QueueName>().unwrap(),
            channel,
            priority: Priority::try_from(self.rng.gen_range(1..=5)).unwrap(),
            skills,
            queued_at: self.now,
            escalation: vec![],
        }
    }

    fn queue_webchat(&mut self) {
        let req = self.request(Channel::WebChat, 1, 3);
        let d = self.call("other", Input::TicketQueued(req));
        self.settle(d);
    }
}

fn main() {
    let mut b = Bench {
        engine: Engine::new(EngineConfig::default()),
        rng: StdRng::seed_from_u64(42),
        skills: (0..SKILLS).map(|i| format!("skill{i:02}").parse().unwrap()).collect(),
        now: 1_700_000_000_000,
        next_ticket: 0,
        channel_of: BTreeMap::new(),
        webchat_of: BTreeMap::new(),
        emails: VecDeque::new(),
        hists: BTreeMap::new(),
        decisions: 0,
    };
    let setup = Instant::now();
    for n in 0..AGENTS {
        let count = b.rng.gen_range(3..=8);
        let skills = b
            .skills
            .choose_multiple(&mut b.rng, count)
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .map(|s| (s, SkillLevel::try_from(b.rng.gen_range(1..=10)).unwrap()))
            .collect();
        let capacity = Capacity {
            limits: [(Channel::WebChat, 1), (Channel::Email, 2)].into_iter().collect(),
            ..Capacity::default()
        };
        b.engine.handle(b.now, Input::AgentUpdated(AgentProfile { id: aid(n), skills, capacity })).unwrap();
        if n >= RESERVE {
            let t = b.tid();
            b.channel_of.insert(t, Channel::WebChat);
            b.engine
                .handle(b.now, Input::TicketAssigned { ticket: t, agent: aid(n), channel: Channel::WebChat })
                .unwrap();
            b.webchat_of.insert(aid(n), t);
            b.engine.handle(b.now, Input::PresenceChanged { agent: aid(n), presence: Presence::Available }).unwrap();
        }
    }
    for _ in 0..WAITING {
        let req = b.request(Channel::WebChat, 1, 3);
        assert!(b.engine.handle(b.now, Input::TicketQueued(req)).unwrap().is_empty());
    }
    println!(
        "setup: {AGENTS} agents ({} available, web chat full; {RESERVE} offline reserve), {SKILLS} skills, \
         {WAITING} web chats waiting; built in {:.2} s",
        AGENTS - RESERVE,
        setup.elapsed().as_secs_f64()
    );

    let mut reserve: Vec<u32> = (0..RESERVE).collect();
    let mut offered_scenarios = 0usize;
    for _ in 0..ITERATIONS {
        match b.rng.gen_range(0..3) {
            0 => {
                let k = b.rng.gen_range(1..=3);
                let req = b.request(Channel::Email, k, 4);
                let d = b.call("queue_email", Input::TicketQueued(req));
                offered_scenarios += usize::from(!d.is_empty());
                b.settle(d);
                if b.emails.len() > 5_000 {
                    let t = b.emails.pop_front().unwrap();
                    let d = b.call("other", Input::TicketRemoved(t));
                    b.settle(d);
                }
            }
            1 => {
                let n = b.rng.gen_range(RESERVE..AGENTS);
                let Some(t) = b.webchat_of.remove(&aid(n)) else { continue };
                let d = b.call("finish_next", Input::TicketRemoved(t));
                offered_scenarios += usize::from(!d.is_empty());
                b.settle(d);
                b.queue_webchat();
            }
            _ => {
                let i = b.rng.gen_range(0..reserve.len());
                let n = reserve.swap_remove(i);
                let d = b.call("available", Input::PresenceChanged { agent: aid(n), presence: Presence::Available });
                offered_scenarios += usize::from(!d.is_empty());
                b.settle(d);
                let d = b.call("other", Input::PresenceChanged { agent: aid(n), presence: Presence::Offline });
                b.settle(d);
                if let Some(t) = b.webchat_of.remove(&aid(n)) {
                    let d = b.call("other", Input::TicketRemoved(t));
                    b.settle(d);
                    b.queue_webchat();
                }
                reserve.push(n);
            }
        }
    }

    let mut overall = Histogram::<u64>::new(3).unwrap();
    println!("{:<12} {:>8} {:>9} {:>9} {:>9} {:>9}", "scenario", "calls", "p50 µs", "p95 µs", "p99 µs", "max µs");
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (name, h) in &b.hists {
        overall.add(h).unwrap();
        println!(
            "{name:<12} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            h.len(),
            us(h, 0.50),
            us(h, 0.95),
            us(h, 0.99),
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "{:<12} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        "overall",
        overall.len(),
        us(&overall, 0.50),
        us(&overall, 0.95),
        us(&overall, 0.99),
        overall.max() as f64 / 1000.0
    );
    println!(
        "{} decisions in {} timed calls; {} of {} routing scenarios ended in an offer; p99 target 100 µs: {}",
        b.decisions,
        overall.len(),
        offered_scenarios,
        ITERATIONS,
        if us(&overall, 0.99) < 100.0 { "met" } else { "MISSED" }
    );
}
