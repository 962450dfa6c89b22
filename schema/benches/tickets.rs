//! The ticket path: a handed-over chat's life through the store, with many concurrent writers,
//! on SQLite and PostgreSQL. Each write also adds to the reports' rollups in its own transaction
//! (docs/reports.md), so this measures what the rollups cost where they are written:
//! conversation created, ticket created (queued), offered, assigned, a customer message, the
//! agent's first reply (the first response), a second reply (counts nothing), resolved.
//!
//! `cargo bench -p schema --bench tickets [-- TICKETS WRITERS]`
//! SQLite with `synchronous=FULL` (the default) on a fresh file; PostgreSQL too when
//! SWITCHBOARD_BENCH_POSTGRES_URL is set (a fresh schema there).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use schema::{
    Actor, AgentId, AuthorKind, Channel, ConversationChange, ConversationStatus, MessageText, NewAgent, NewCustomer,
    NewMessage, Priority, Role, Store, StoreOptions, Ticket, TicketEvent, TicketId, TicketStatus,
};
use time::OffsetDateTime;

fn arg(n: usize, default: usize) -> usize {
    // `cargo bench` passes `--bench` first; numbers are ours.
    std::env::args().filter_map(|a| a.parse().ok()).nth(n).unwrap_or(default)
}

/// The calls of one life, in order.
const STEPS: [&str; 8] = [
    "conversation created",
    "ticket created",
    "offered",
    "assigned",
    "customer message",
    "agent's first reply",
    "agent's second reply",
    "resolved",
];

fn line(ticket: &Ticket, actor: Actor, kind: &str, detail: serde_json::Value) -> TicketEvent {
    TicketEvent { ticket_id: ticket.id, actor, kind: kind.into(), detail, at: ticket.updated_at }
}

fn message(conversation: schema::ConversationId, author: AuthorKind, agent: Option<AgentId>) -> NewMessage {
    NewMessage {
        conversation_id: conversation,
        author,
        author_id: agent,
        text: MessageText::parse("the line keeps dropping since this morning", 4000).unwrap(),
        channel_message_id: None,
        media: Vec::new(),
        template: None,
    }
}

/// One ticket's life; the time each call took, in [`STEPS`] order.
async fn life(store: &Store, agent: AgentId) -> [Duration; 8] {
    let mut took = [Duration::ZERO; 8];
    let mut t = Instant::now();
    let mut lap = |i: usize, t: &mut Instant| {
        took[i] = t.elapsed();
        *t = Instant::now();
    };
    let (_, conversation) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Bot)
        .await
        .unwrap();
    lap(0, &mut t);
    let now = OffsetDateTime::now_utc();
    let mut ticket = Ticket {
        id: TicketId::new(),
        conversation_id: conversation.id,
        channel: Channel::WebChat,
        status: TicketStatus::Queued,
        priority: Priority::default(),
        queue: "billing".parse().unwrap(),
        skills: Vec::new(),
        escalation: Vec::new(),
        tags: std::collections::BTreeSet::new(),
        rule: None,
        summary: None,
        assignee_id: None,
        offered_to: None,
        offer_expires_at: None,
        queued_at: now,
        first_response_due: Some(now + time::Duration::minutes(2)),
        created_at: now,
        updated_at: now,
    };
    let queued = ConversationChange { status: ConversationStatus::Queued, assignee_id: None };
    let created = line(&ticket, Actor::System, "created", serde_json::json!({"queue": "billing"}));
    store.create_ticket(&ticket, &created, queued).await.unwrap();
    lap(1, &mut t);
    ticket.status = TicketStatus::Offered;
    ticket.offered_to = Some(agent);
    ticket.updated_at = OffsetDateTime::now_utc();
    let offered = line(&ticket, Actor::System, "offered", serde_json::json!({"agent_id": agent}));
    store.update_ticket(&ticket, &[offered], None).await.unwrap();
    lap(2, &mut t);
    ticket.status = TicketStatus::Assigned;
    ticket.offered_to = None;
    ticket.assignee_id = Some(agent);
    ticket.updated_at = OffsetDateTime::now_utc();
    let assigned = line(&ticket, Actor::Agent(agent), "assigned", serde_json::json!({"agent_id": agent}));
    let change = ConversationChange { status: ConversationStatus::Assigned, assignee_id: Some(agent) };
    store.update_ticket(&ticket, &[assigned], Some(change)).await.unwrap();
    lap(3, &mut t);
    store.append_message(message(conversation.id, AuthorKind::Customer, None)).await.unwrap();
    lap(4, &mut t);
    store.append_message(message(conversation.id, AuthorKind::Agent, Some(agent))).await.unwrap();
    lap(5, &mut t);
    store.append_message(message(conversation.id, AuthorKind::Agent, Some(agent))).await.unwrap();
    lap(6, &mut t);
    ticket.status = TicketStatus::Resolved;
    ticket.updated_at = OffsetDateTime::now_utc();
    let resolved = line(&ticket, Actor::Agent(agent), "resolved", serde_json::json!({}));
    let change = ConversationChange { status: ConversationStatus::Resolved, assignee_id: Some(agent) };
    store.update_ticket(&ticket, &[resolved], Some(change)).await.unwrap();
    lap(7, &mut t);
    took
}

#[tokio::main]
async fn main() {
    let tickets = arg(0, 5_000);
    let writers = arg(1, 50);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", uuid::Uuid::new_v4().simple()));
    let mut targets = vec![("sqlite synchronous=FULL", format!("sqlite://{}", dir.join("tickets.db").display()))];
    if let Ok(url) = std::env::var("SWITCHBOARD_BENCH_POSTGRES_URL") {
        targets.push(("postgres", url));
    }
    for (name, url) in targets {
        let options = StoreOptions { max_connections: 16, ..StoreOptions::default() };
        let store = Store::connect(&url, &options).await.unwrap();
        let mut agents = Vec::with_capacity(writers);
        for i in 0..writers {
            let agent = store
                .create_agent(NewAgent {
                    email: format!("bench{i}-{}@example.com", uuid::Uuid::new_v4().simple()).parse().unwrap(),
                    name: format!("Bench {i}").parse().unwrap(),
                    roles: vec![Role::Agent],
                    password_hash: "x".into(),
                })
                .await
                .unwrap();
            agents.push(agent.id);
        }
        let started = Instant::now();
        let per_writer = tickets / writers;
        let tasks: Vec<_> = agents
            .iter()
            .map(|agent| {
                let (store, agent) = (store.clone(), *agent);
                tokio::spawn(async move {
                    let mut lives = Vec::with_capacity(per_writer);
                    for _ in 0..per_writer {
                        lives.push(life(&store, agent).await);
                    }
                    lives
                })
            })
            .collect();
        let mut per_step: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
        let mut lives = 0_usize;
        for task in tasks {
            for took in task.await.unwrap() {
                lives += 1;
                for (i, d) in took.into_iter().enumerate() {
                    per_step.entry(i).or_default().push(d);
                }
            }
        }
        let elapsed = started.elapsed();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "{name}: {lives} ticket lives ({} store calls), {writers} concurrent writers: {:.0} lives/s, {:.0} calls/s; \
             load average {}",
            lives * STEPS.len(),
            lives as f64 / elapsed.as_secs_f64(),
            (lives * STEPS.len()) as f64 / elapsed.as_secs_f64(),
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
        for (i, mut all) in per_step {
            all.sort_unstable();
            let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
            println!(
                "  {:<22} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                STEPS[i],
                pct(0.5),
                pct(0.99),
                pct(1.0)
            );
        }
        store.close().await;
    }
    std::fs::remove_dir_all(dir).ok();
}
