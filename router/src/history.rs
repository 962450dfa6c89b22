//! Draft rules tried on recent history: which tickets would change queue, and a rough expected
//! wait per queue under the draft, from the waits observed in the same window.
//!
//! Each ticket is classified twice (rules in force, draft); the time is linear in the tickets
//! times the rules, plus the agents times the rules. The wait estimate scales each queue's
//! observed wait by its load per serving agent:
//!
//! - `load(q)` = tickets the rules send to `q` ÷ agents who serve `q` under those rules
//!   ([`RoutingRules::queues_served`]);
//! - `k(q)` = the mean wait observed for the tickets the rules in force send to `q` ÷ `load(q)`
//!   under the rules in force; where `q` got no ticket (or had no agent), `k` is the same ratio
//!   over every ticket (Σ waits ÷ Σ the load of each ticket's queue);
//! - expected wait under the draft = `k(q)` × `load(q)` under the draft: 0 when the draft sends
//!   no ticket to `q`, none (unbounded) when tickets go there and no agent serves it, none when
//!   nothing was observed to scale from.

use std::collections::{BTreeMap, BTreeSet};

use schema::{QueueName, SkillLevel, SkillName, TicketId};
use serde::Serialize;

use crate::model::Millis;
use crate::rules::{RoutingRules, Sample};

/// One ticket of the window: what the rules look at, and how long it waited for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryTicket {
    pub id: TicketId,
    pub sample: Sample,
    /// From opening to the first agent taking it; for a ticket no agent took, the time it has
    /// waited so far.
    pub waited_ms: Millis,
}

/// How many tickets would go from one queue to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueMove {
    /// The queue the rules in force send them to.
    pub from: QueueName,
    /// The queue the draft sends them to.
    pub to: QueueName,
    pub tickets: usize,
}

/// One queue under the rules in force and under the draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueForecast {
    pub queue: QueueName,
    /// Tickets of the window the rules in force send here.
    pub tickets_now: usize,
    /// Tickets of the window the draft sends here.
    pub tickets_draft: usize,
    /// Agents who serve the queue under the rules in force.
    pub agents_now: usize,
    /// Agents who serve the queue under the draft.
    pub agents_draft: usize,
    /// The mean wait observed for the tickets the rules in force send here, in ms.
    pub observed_wait_ms: Option<Millis>,
    /// The expected mean wait under the draft, in ms; `null`: no agent would serve the tickets
    /// sent here, or nothing was observed to estimate from.
    pub expected_wait_ms: Option<Millis>,
}

/// The draft compared with the rules in force over the window's tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryComparison {
    /// Tickets classified.
    pub tickets: usize,
    /// Of those, the tickets the draft sends to another queue.
    pub moved: usize,
    /// Moves by (from, to), most tickets first.
    pub moves: Vec<QueueMove>,
    /// Some of the moved tickets (newest first in the order given), at most the cap asked for.
    pub moved_sample: Vec<TicketId>,
    /// Every queue of either rule set, by name.
    pub queues: Vec<QueueForecast>,
}

/// Agents per queue: how many of `agents` serve each queue under `rules`.
fn servers(rules: &RoutingRules, agents: &[BTreeMap<SkillName, SkillLevel>]) -> BTreeMap<QueueName, usize> {
    let mut out = BTreeMap::new();
    for skills in agents {
        for q in rules.queues_served(skills) {
            *out.entry(q).or_insert(0) += 1;
        }
    }
    out
}

#[allow(clippy::cast_precision_loss)]
fn load(tickets: usize, agents: usize) -> Option<f64> {
    (agents > 0).then(|| tickets as f64 / agents as f64)
}

/// Compares `draft` with `current` over `tickets`, with `agents` (each agent's skills) serving.
#[must_use]
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
pub fn compare(
    current: &RoutingRules,
    draft: &RoutingRules,
    tickets: &[HistoryTicket],
    agents: &[BTreeMap<SkillName, SkillLevel>],
    sample_cap: usize,
) -> HistoryComparison {
    let mut now_count: BTreeMap<QueueName, usize> = BTreeMap::new();
    let mut draft_count: BTreeMap<QueueName, usize> = BTreeMap::new();
    let mut wait_sum: BTreeMap<QueueName, i128> = BTreeMap::new();
    let mut moves: BTreeMap<(QueueName, QueueName), usize> = BTreeMap::new();
    let mut moved_sample = Vec::new();
    let mut moved = 0;
    let mut now_queue_of = Vec::with_capacity(tickets.len());
    let (current_rules, draft_rules) = (current.classifier(), draft.classifier());
    for t in tickets {
        let from = current_rules.classify(&t.sample).target.queue;
        let to = draft_rules.classify(&t.sample).target.queue;
        *now_count.entry(from.clone()).or_insert(0) += 1;
        *draft_count.entry(to.clone()).or_insert(0) += 1;
        *wait_sum.entry(from.clone()).or_insert(0) += i128::from(t.waited_ms.max(0));
        if from != to {
            moved += 1;
            if moved_sample.len() < sample_cap {
                moved_sample.push(t.id);
            }
            *moves.entry((from.clone(), to)).or_insert(0) += 1;
        }
        now_queue_of.push(from);
    }
    let agents_now = servers(current, agents);
    let agents_draft = servers(draft, agents);
    let count = |m: &BTreeMap<QueueName, usize>, q: &QueueName| m.get(q).copied().unwrap_or(0);

    // The overall ratio of wait to load, over the tickets whose queue has agents now.
    let (mut waits, mut loads) = (0f64, 0f64);
    for (t, q) in tickets.iter().zip(&now_queue_of) {
        if let Some(l) = load(count(&now_count, q), count(&agents_now, q)) {
            waits += t.waited_ms.max(0) as f64;
            loads += l;
        }
    }
    let k_all = (loads > 0.0).then(|| waits / loads);

    let names: BTreeSet<QueueName> = current
        .queues
        .iter()
        .chain(&draft.queues)
        .map(|q| q.name.clone())
        .chain(now_count.keys().cloned())
        .chain(draft_count.keys().cloned())
        .collect();
    let queues = names
        .into_iter()
        .map(|q| {
            let (tn, td) = (count(&now_count, &q), count(&draft_count, &q));
            let (an, ad) = (count(&agents_now, &q), count(&agents_draft, &q));
            let observed = (tn > 0).then(|| wait_sum.get(&q).copied().unwrap_or(0) as f64 / tn as f64);
            let k = match (observed, load(tn, an)) {
                (Some(w), Some(l)) if l > 0.0 => Some(w / l),
                _ => k_all,
            };
            let expected = if td == 0 {
                Some(0.0)
            } else {
                match (k, load(td, ad)) {
                    (Some(k), Some(l)) => Some(k * l),
                    _ => None,
                }
            };
            QueueForecast {
                queue: q,
                tickets_now: tn,
                tickets_draft: td,
                agents_now: an,
                agents_draft: ad,
                observed_wait_ms: observed.map(|w| w.round() as Millis),
                expected_wait_ms: expected.map(|w| w.round() as Millis),
            }
        })
        .collect();
    let mut moves: Vec<QueueMove> =
        moves.into_iter().map(|((from, to), tickets)| QueueMove { from, to, tickets }).collect();
    moves.sort_by(|a, b| b.tickets.cmp(&a.tickets).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
    HistoryComparison { tickets: tickets.len(), moved, moves, moved_sample, queues }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use schema::{Channel, CustomerTier, Language};

    use super::*;

    fn rules(json: serde_json::Value) -> RoutingRules {
        let r: RoutingRules = serde_json::from_value(json).unwrap();
        r.validate().unwrap();
        r
    }

    fn base(billing_queue: &str) -> RoutingRules {
        rules(serde_json::json!({
            "skills": ["billing"],
            "queues": [{"name": "general"}, {"name": "billing"}, {"name": "vip"}],
            "rules": [{"name": "bills", "when": {"text_contains": ["bill"]},
                       "then": {"queue": billing_queue, "skills": [{"skill": "billing", "level": 5}]}}],
            "fallback": {"queue": "general"}
        }))
    }

    fn ticket(n: u64, text: &str, waited_ms: Millis) -> HistoryTicket {
        HistoryTicket {
            id: format!("00000000-0000-7000-8000-{n:012}").parse().unwrap(),
            sample: Sample {
                channel: Channel::WebChat,
                language: Language::En,
                tier: CustomerTier::Standard,
                tags: vec![],
                text: text.into(),
                at: 0,
                churn_risk: None,
            },
            waited_ms,
        }
    }

    fn skills(level: i64) -> BTreeMap<SkillName, SkillLevel> {
        BTreeMap::from([("billing".parse().unwrap(), SkillLevel::try_from(level).unwrap())])
    }

    #[test]
    fn moves_are_counted_and_waits_scale_with_load_per_agent() {
        let current = base("billing");
        let draft = base("general");
        let tickets = [ticket(1, "my bill", 60_000), ticket(2, "bill again", 120_000), ticket(3, "hello", 30_000)];
        // Two billing agents (serve billing and general), one generalist (general only).
        let agents = [skills(7), skills(5), BTreeMap::new()];
        let c = compare(&current, &draft, &tickets, &agents, 1);
        assert_eq!((c.tickets, c.moved), (3, 2));
        assert_eq!(
            c.moves,
            [QueueMove { from: "billing".parse().unwrap(), to: "general".parse().unwrap(), tickets: 2 }]
        );
        assert_eq!(c.moved_sample.len(), 1, "the sample is capped");
        let q = |name: &str| c.queues.iter().find(|q| q.queue.as_str() == name).unwrap().clone();
        let billing = q("billing");
        assert_eq!((billing.tickets_now, billing.tickets_draft, billing.agents_now), (2, 0, 2));
        assert_eq!(billing.observed_wait_ms, Some(90_000));
        assert_eq!(billing.expected_wait_ms, Some(0));
        // General now: 1 ticket, 3 agents, 30 s mean: k = 30 000 / (1/3) = 90 000 ms per unit.
        // Under the draft: 3 tickets, 3 agents (the draft has no billing rule target any more,
        // so billing agents serve general only): load 1 → 90 s.
        let general = q("general");
        assert_eq!((general.tickets_now, general.tickets_draft, general.agents_draft), (1, 3, 3));
        assert_eq!(general.observed_wait_ms, Some(30_000));
        assert_eq!(general.expected_wait_ms, Some(90_000));
        // VIP: nobody goes there either way.
        assert_eq!(q("vip").expected_wait_ms, Some(0));
    }

    #[test]
    fn a_queue_nobody_serves_has_no_expected_wait_and_a_new_queue_uses_the_overall_ratio() {
        let current = base("billing");
        let draft = rules(serde_json::json!({
            "skills": ["billing"],
            "queues": [{"name": "general"}, {"name": "billing"}, {"name": "vip"}],
            "rules": [{"name": "bills", "when": {"text_contains": ["bill"]},
                       "then": {"queue": "vip", "skills": [{"skill": "billing", "level": 9}]}},
                      {"name": "hi", "when": {"text_contains": ["hello"]}, "then": {"queue": "billing"}}],
            "fallback": {"queue": "general"}
        }));
        let tickets = [ticket(1, "bill", 10_000), ticket(2, "hello", 20_000)];
        let agents = [skills(5)];
        let c = compare(&current, &draft, &tickets, &agents, 10);
        assert_eq!(c.moved, 2);
        let q = |name: &str| c.queues.iter().find(|q| q.queue.as_str() == name).unwrap().clone();
        assert_eq!(q("vip").agents_draft, 0);
        assert_eq!(q("vip").expected_wait_ms, None, "nobody has billing at 9");
        // billing now: 1 ticket, 1 agent, 10 s → k = 10 000; draft: 1 ticket, 1 agent → 10 s.
        assert_eq!(q("billing").expected_wait_ms, Some(10_000));
    }

    #[test]
    fn the_same_rules_move_nothing_and_expect_what_was_observed() {
        let current = base("billing");
        let tickets = [ticket(1, "bill", 40_000), ticket(2, "bill", 20_000), ticket(3, "x", 5_000)];
        let agents = [skills(5), BTreeMap::new()];
        let c = compare(&current, &current, &tickets, &agents, 10);
        assert_eq!(c.moved, 0);
        assert!(c.moves.is_empty() && c.moved_sample.is_empty());
        for q in &c.queues {
            assert_eq!(q.expected_wait_ms, if q.tickets_now == 0 { Some(0) } else { q.observed_wait_ms });
        }
    }
}
