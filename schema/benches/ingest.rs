//! Durable ingest: messages appended per second through `Store::append_message`, with many
//! concurrent writers (as many sockets would), on SQLite and PostgreSQL.
//!
//! `cargo bench -p schema --bench ingest [-- MESSAGES WRITERS CONVERSATIONS]`
//! SQLite is measured with `synchronous=FULL` (the default) and `NORMAL`, each on a fresh file;
//! PostgreSQL too when SWITCHBOARD_BENCH_POSTGRES_URL is set.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use schema::{
    AuthorKind, Channel, ConversationStatus, MessageText, NewCustomer, NewMessage, SqliteSynchronous, Store,
    StoreOptions,
};

fn arg(n: usize, default: usize) -> usize {
    // `cargo bench` passes `--bench` first; numbers are ours.
    std::env::args().filter_map(|a| a.parse().ok()).nth(n).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let messages = arg(0, 50_000);
    let writers = arg(1, 200);
    let conversations = arg(2, 1_000);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", uuid::Uuid::new_v4().simple()));
    let sqlite = |file: &str| format!("sqlite://{}", dir.join(file).display());
    let mut targets = vec![
        ("sqlite synchronous=FULL", sqlite("full.db"), SqliteSynchronous::Full),
        ("sqlite synchronous=NORMAL", sqlite("normal.db"), SqliteSynchronous::Normal),
    ];
    if let Ok(url) = std::env::var("SWITCHBOARD_BENCH_POSTGRES_URL") {
        targets.push(("postgres", url, SqliteSynchronous::Full));
    }
    for (name, url, sqlite_synchronous) in targets {
        let options = StoreOptions { max_connections: 16, sqlite_synchronous, ..StoreOptions::default() };
        let store = Store::connect(&url, &options).await.unwrap();
        let mut convs = Vec::with_capacity(conversations);
        for _ in 0..conversations {
            let (_, c) = store
                .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Queued)
                .await
                .unwrap();
            convs.push(c.id);
        }
        let started = Instant::now();
        let per_writer = messages / writers;
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                let convs = convs.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_writer);
                    for i in 0..per_writer {
                        let t = Instant::now();
                        store
                            .append_message(NewMessage {
                                conversation_id: convs[(w * per_writer + i) % convs.len()],
                                author: AuthorKind::Customer,
                                author_id: None,
                                text: MessageText::parse("my internet is slow since this morning", 4000).unwrap(),
                                channel_message_id: Some(format!("{w}-{i}").parse().unwrap()),
                                media: Vec::new(),
                                template: None,
                            })
                            .await
                            .unwrap();
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all: Vec<Duration> = Vec::with_capacity(messages);
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        all.sort_unstable();
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
        println!(
            "{name}: {} messages, {writers} concurrent writers, {conversations} conversations: {:.0} messages/s; \
             append latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            all.len(),
            all.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
        );
        store.close().await;
    }
    std::fs::remove_dir_all(dir).ok();
}
