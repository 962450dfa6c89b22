//! `switchboard`: the hub's command line.
#![allow(clippy::print_stdout)]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use hub::config::{Config, LogFormat};
use schema::{Role, Store, StoreOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about = "Switchboard: an omnichannel customer-care hub")]
struct Cli {
    /// TOML configuration file (default: ./switchboard.toml if it exists).
    #[arg(long, short, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the hub.
    Serve {
        /// Listen address (overrides server.bind).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
        /// Seed demo staff with known passwords (never in production).
        #[arg(long)]
        demo: bool,
    },
    /// Manage staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage the bot's knowledge base.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Reports' rollups.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// Print the OpenAPI document of the API (as the hub serves it at /api/v1/openapi.json).
    Openapi {
        /// `yaml` or `json`.
        #[arg(long, default_value = "yaml")]
        format: String,
    },
}

#[derive(Subcommand, Debug)]
enum KbCommand {
    /// Import the Markdown (front matter: id, title, language, kind, tags, questions) and JSON
    /// documents of a folder into the store, published. A document imported before (same folder
    /// name and id) is left as it is, so trainers' edits survive a second import. A running hub
    /// indexes them when it next starts; to add documents to a running hub, use the API.
    Import {
        /// The folder (not read recursively).
        dir: PathBuf,
        /// Import as drafts, for trainers to review and publish.
        #[arg(long)]
        draft: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain of the configured store, from the anchor of the last prune, reading it
    /// page by page. Prints how many entries were checked and "chain intact" (exit 0), or the
    /// first broken entry's seq and why (exit 1).
    Verify {
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ReportsCommand {
    /// Count into the reports' rollups, once, what the store held before they existed
    /// (migration 0024): conversations, tickets' histories and first responses up to that
    /// moment. Safe while hubs run (they count what came after); a second run does nothing.
    Backfill {
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create an administrator. The password is read from SWITCHBOARD_ADMIN_PASSWORD, or else
    /// from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = cli.config.clone().or_else(|| {
        let default = PathBuf::from("switchboard.toml");
        default.exists().then_some(default)
    });
    let mut config = Config::load(file.as_deref())?;
    match cli.command {
        Command::Serve { bind, database_url, demo } => {
            if let Some(bind) = bind {
                config.server.bind = bind;
            }
            if let Some(url) = database_url {
                config.database.url = url;
            }
            config.demo.enabled |= demo;
            // The demo answers calls too (sip.udp / sip.tcp, 127.0.0.1:5060 by default).
            config.sip.enabled |= demo;
            if demo {
                config.email.demo_defaults();
            }
            init_tracing(&config);
            serve(config).await
        }
        Command::Openapi { format } => {
            let doc = hub::http::openapi();
            let text = match format.as_str() {
                "yaml" => doc.to_yaml()?,
                "json" => doc.to_pretty_json()?,
                other => bail!("--format is yaml or json, not {other:?}"),
            };
            println!("{text}");
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify { database_url } } => {
            init_tracing(&config);
            if let Some(url) = database_url {
                config.database.url = url;
            }
            verify_audit(&config).await
        }
        Command::Reports { command: ReportsCommand::Backfill { database_url } } => {
            init_tracing(&config);
            if let Some(url) = database_url {
                config.database.url = url;
            }
            backfill_reports(&config).await
        }
        Command::Kb { command: KbCommand::Import { dir, draft } } => {
            init_tracing(&config);
            import_kb(&config, &dir, draft).await
        }
        Command::Admin { command: AdminCommand::Create { email, name } } => {
            init_tracing(&config);
            let password = match std::env::var("SWITCHBOARD_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let store = Store::connect(&config.database.url, &StoreOptions::default()).await?;
            let roles = vec![Role::Admin.as_str().to_owned(), Role::Agent.as_str().to_owned()];
            let new = hub::services::staff::new_agent(&email, &name, &roles, password).await?;
            let agent = store.create_agent(new).await?;
            store.close().await;
            println!("created administrator {} ({})", agent.email, agent.id);
            Ok(())
        }
    }
}

/// Every socket is a file descriptor: lift the soft limit to the hard one, and say so when even
/// that is below what the configuration allows.
fn raise_open_files_limit(config: &Config) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            let workers = if config.server.workers == 0 {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            } else {
                config.server.workers
            };
            let wanted = (workers * config.server.max_connections_per_worker) as u64;
            if limit < wanted {
                tracing::warn!(
                    limit,
                    wanted,
                    "the open-files limit caps concurrent connections below the configured maximum"
                );
            } else {
                tracing::debug!(limit, "open-files limit");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
}

async fn import_kb(config: &Config, dir: &std::path::Path, draft: bool) -> anyhow::Result<()> {
    let docs = knowledge_base::load_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let folder = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let store = Store::connect(&config.database.url, &StoreOptions::default()).await?;
    let bar = indicatif::ProgressBar::new(docs.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut created, mut kept) = (0, 0);
    for doc in docs {
        let source = format!("import:{folder}/{}", doc.id);
        bar.set_message(doc.title.chars().take(40).collect::<String>());
        let mut content = hub::services::bot::stored_content(doc).with_context(|| format!("document {source}"))?;
        if draft {
            content.status = schema::DocumentStatus::Draft;
        }
        if store.create_document(&content, Some(&source), None).await?.1 {
            created += 1
        } else {
            kept += 1
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    store.close().await;
    println!("imported {created} documents from {} ({kept} were there already)", dir.display());
    Ok(())
}

async fn backfill_reports(config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database.url, &StoreOptions::default()).await?;
    let done = store.backfill_reports().await;
    let bot = match &done {
        Ok(_) => Some(store.backfill_bot_reports().await),
        Err(_) => None,
    };
    store.close().await;
    match done? {
        Some((conversations, tickets)) => {
            println!("reports backfilled: {conversations} conversations and {tickets} tickets counted");
        }
        None => println!("reports were backfilled before: nothing to do"),
    }
    match bot.transpose()?.flatten() {
        Some((answers, conversations)) => {
            println!("bot report backfilled: {answers} answers and {conversations} bot conversations counted");
        }
        None => println!("the bot report was backfilled before: nothing to do"),
    }
    Ok(())
}

async fn verify_audit(config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database.url, &StoreOptions::default()).await?;
    let found = hub::services::audit::verify_store(&store, None).await;
    store.close().await;
    let found = found?;
    let from = found.anchor.map_or_else(String::new, |a| format!(" after the anchor at seq {}", a.seq));
    println!("{} audit entries checked{from}", found.checked);
    match found.broken {
        None => {
            println!("chain intact");
            Ok(())
        }
        Some(broken) => bail!("chain broken at seq {}: {}", broken.seq, broken.why),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    raise_open_files_limit(&config);
    let demo = config.demo.enabled;
    let running = hub::start(config).await?;
    println!("Switchboard is listening on http://{}", running.addr);
    if let Some(smtp) = running.smtp_addr {
        println!("E-mail: SMTP on {smtp}, for {}", running.state.config.email.addresses.join(", "));
    }
    if demo {
        println!(
            "Demo mode: these staff accounts exist (password {:?}); never use demo mode in production:",
            hub::DEMO_PASSWORD
        );
        for (email, name, roles) in hub::DEMO_STAFF {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            println!("  {email:<32} {name:<12} roles: {}", roles.join(", "));
        }
    }
    if let Some(voice) = &running.state.voice {
        let addrs: Vec<String> =
            [voice.udp_addr().map(|a| format!("udp {a}")), voice.tcp_addr().map(|a| format!("tcp {a}"))]
                .into_iter()
                .flatten()
                .collect();
        println!("SIP voice channel on {}", addrs.join(", "));
        if demo {
            for (email, username) in hub::demo::DEMO_SIP {
                println!("  softphone user {username:<8} (password {:?}) rings {email}", hub::DEMO_PASSWORD);
            }
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => if let Err(e) = r { bail!("cannot listen for Ctrl-C: {e}") },
    }
    running.shutdown().await;
    Ok(())
}
