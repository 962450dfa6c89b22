//! The store: every SQL statement of Switchboard lives here.
//!
//! One code path serves SQLite (the embedded default) and PostgreSQL (at scale) through sqlx's
//! `Any` driver: both accept `$n` parameters and `INSERT ... ON CONFLICT ... RETURNING`.
//! SQLite gets one writer connection (SQLite serialises writers anyway; a pool queue is fairer and
//! faster than lock retries) and a pool of readers in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use time::OffsetDateTime;

use crate::domain::{
    Agent, AuthMethod, ContactHandle, Conversation, Customer, Message, NewAgent, NewCustomer, StaffSession,
};
use crate::ids::{AgentId, ConversationId, CustomerId};
use crate::values::{Channel, ChannelMessageId, ConversationStatus, MessageText, Role, ValidationError};

mod accounts;
pub use accounts::{AccountChange, ConsoleSetting};
mod append;
mod audit;
mod bot_reports;
pub use bot_reports::UnansweredTopic;
mod bss;
pub use audit::{AuditFilter, AuditPosition};
pub use bss::{BssKind, BssRecord, BssTx, MAX_BSS_LIST};
mod canned;
mod care;
mod churn;
pub use care::MAX_CARE_LIST;
mod csat;
pub use csat::MAX_CSAT_COMMENTS;
mod customers;
pub use customers::{CustomerConversation, MessagePreview, Outcome};
mod email;
mod identity;
pub use identity::{Consent, CustomerDetails, CustomerHandle, CustomerSummary, MergeError, Merged, ProfileChange};
mod incidents;
pub use incidents::LinkedConversation;
mod knowledge;
pub use knowledge::{BotAnswerFilter, CachedEmbedding};
mod leases;
pub use leases::{Fence, LeaseSession};
mod mfa;
pub use mfa::{MAX_CHALLENGE_FAILURES, MfaEnrolment};
mod presence;
mod privacy;
mod reports;
pub use privacy::{CustomerMatch, EraseError, Erased, ExportKind, ExportRecord, Holdings, RetentionKind, TOMBSTONE};
mod selfservice;
mod sla;
pub use sla::{SlaVersion, TicketSla};
mod social;
mod sso;
pub use sso::{SsoHandoff, SsoLogin, SsoProfile, SsoPurpose};
mod tickets;
mod uploads;
mod voice;

pub use email::{
    EmailReplyContext, InboundEmail, InboundEmailKind, LastInbound, NewAttachment, OutboundEmail, QueuedEmail,
    StoredAttachment, StoredInboundEmail, UnprocessedEmail,
};
pub use social::{Outbound, SocialAccount};
pub use tickets::ConversationChange;
pub use uploads::NewUpload;
pub use voice::{SipIdentity, VoiceCall};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("the database is unreachable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A write fenced with a lease's term after another term of it began: this node no longer
    /// holds the lease, and nothing was written.
    #[error("this node no longer holds the {lease} lease")]
    Fenced { lease: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => Self::Unavailable(e),
            sqlx::Error::Database(ref db) if db.is_unique_violation() => Self::Conflict(db.message().to_owned()),
            other => Self::Database(other),
        }
    }
}

impl From<ValidationError> for StoreError {
    fn from(e: ValidationError) -> Self {
        Self::Corrupt(e.to_string())
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Tuning for [`Store::connect`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool (readers for SQLite, all connections for PostgreSQL).
    pub max_connections: u32,
    /// How long to wait for a free connection before the request fails.
    pub acquire_timeout: Duration,
    /// SQLite only: when a commit reaches the disk.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// SQLite's `PRAGMA synchronous` (in WAL mode): what an acknowledged (committed) message
/// survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Every commit is flushed to the disk (`fsync` of the WAL) before it returns: a committed
    /// message survives a crash of the process, of the operating system and a power cut.
    #[default]
    Full,
    /// Commits are written to the WAL in the OS cache and flushed at checkpoints: a committed
    /// message survives a crash of the process, but a crash of the operating system or a power
    /// cut can lose the last commits (never corrupting the database).
    Normal,
}

impl SqliteSynchronous {
    /// The pragma's value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// One page of a list, in the list's order (keyset paging; the hub's `http::Page` is its wire
/// form).
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
    /// The group-commit writers that append messages (see `append`): one on SQLite, a few on
    /// PostgreSQL (each conversation always to the same one). Empty in the writers' own handles.
    appenders: Vec<append::Appender>,
    /// The lease term this handle's fenced writes are made in ([`Store::fenced`]); `None`: not
    /// fenced.
    fence: Option<std::sync::Arc<Fence>>,
}

fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(v: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {v}: {e}")))
}

fn parse<T: FromStr<Err = ValidationError>>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    Ok(s.parse()?)
}

fn parse_opt<T: FromStr<Err = ValidationError>>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    let s: Option<String> = row.try_get(col)?;
    Ok(s.map(|s| s.parse()).transpose()?)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot serialise: {e}")))
}

fn roles_to_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" ")
}

fn roles_from_text(s: &str) -> Result<Vec<Role>> {
    s.split_whitespace().map(|r| r.parse().map_err(StoreError::from)).collect()
}

const CONVERSATION_COLUMNS: &str =
    "id, customer_id, channel, status, assignee_id, language, last_seq, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, author, author_id, body, channel_message_id, media, \
     delivery_status, delivery_error, created_at";
const AGENT_COLUMNS: &str = "id, email, name, roles, disabled_at, created_at";

fn conversation_from_row(row: &AnyRow) -> Result<Conversation> {
    Ok(Conversation {
        id: parse(row, "id")?,
        customer_id: parse(row, "customer_id")?,
        channel: parse(row, "channel")?,
        status: parse(row, "status")?,
        assignee_id: parse_opt(row, "assignee_id")?,
        language: parse(row, "language")?,
        last_seq: row.try_get("last_seq")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

fn message_from_row(row: &AnyRow) -> Result<Message> {
    Ok(Message {
        id: parse(row, "id")?,
        conversation_id: parse(row, "conversation_id")?,
        seq: row.try_get("seq")?,
        author: parse(row, "author")?,
        author_id: parse_opt(row, "author_id")?,
        text: MessageText::trusted(row.try_get("body")?),
        channel_message_id: parse_opt::<ChannelMessageId>(row, "channel_message_id")?,
        media: match row.try_get::<Option<String>, _>("media")? {
            Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("media: {e}")))?,
            None => Vec::new(),
        },
        delivery_status: parse_opt(row, "delivery_status")?,
        delivery_error: row.try_get("delivery_error")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

fn agent_from_row(row: &AnyRow) -> Result<Agent> {
    let roles: String = row.try_get("roles")?;
    let disabled_at: Option<i64> = row.try_get("disabled_at")?;
    Ok(Agent {
        id: parse(row, "id")?,
        email: parse(row, "email")?,
        name: parse(row, "name")?,
        roles: roles_from_text(&roles)?,
        active: disabled_at.is_none(),
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

impl Store {
    /// Connects to `url` (`sqlite://PATH`, created if missing, or `postgres://...`) and brings the
    /// schema up to date.
    ///
    /// # Errors
    /// An unsupported URL, an unreachable database, or a failed migration.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let mut store = if let Some(path) = url.strip_prefix("sqlite://") {
            Self::connect_sqlite(url, path, options).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = AnyConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl(redact(url)))?;
            let pool = AnyPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(StoreError::Unavailable)?;
            Self { backend: Backend::Postgres, write: pool.clone(), read: pool, appenders: Vec::new(), fence: None }
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        store.migrate().await?;
        if store.backend == Backend::Postgres {
            // A quarter of the pool at most writes messages, in batches (see `append`).
            let writers = (options.max_connections / 4).clamp(1, append::MAX_POSTGRES_WRITERS);
            store.appenders = (0..writers).map(|_| append::Appender::spawn(store.clone())).collect();
        }
        Ok(store)
    }

    async fn connect_sqlite(url: &str, path: &str, options: &StoreOptions) -> Result<Self> {
        let file = path.split('?').next().unwrap_or(path);
        if file.is_empty() || file == ":memory:" {
            // Each pooled connection would get its own private in-memory database.
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        if let Some(dir) = Path::new(file).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        let url = if path.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
        let opts = AnyConnectOptions::from_str(&url).map_err(|_| StoreError::UnsupportedUrl(url.clone()))?;
        // WAL: readers never block the writer. synchronous: see [`SqliteSynchronous`].
        // foreign_keys: enforce references. busy_timeout: wait, don't fail. secure_delete: deleted
        // and overwritten content is zeroed in the file, so an erased customer cannot be read back
        // from free pages.
        let pragmas: &'static str = match options.sqlite_synchronous {
            SqliteSynchronous::Full => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;"
            }
            SqliteSynchronous::Normal => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;"
            }
        };
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                // A local file cannot go stale like a network connection: skip the ping.
                .test_before_acquire(false)
                .acquire_timeout(options.acquire_timeout)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(pragmas).await?;
                        Ok(())
                    })
                })
                .connect_with(opts.clone())
        };
        let write = pool(1).await.map_err(StoreError::Unavailable)?;
        let read = pool(options.max_connections.max(1)).await.map_err(StoreError::Unavailable)?;
        let mut store = Self { backend: Backend::Sqlite, write, read, appenders: Vec::new(), fence: None };
        store.appenders = vec![append::Appender::spawn(store.clone())];
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => self.migrate_sqlite().await,
            Backend::Postgres => Ok(POSTGRES_MIGRATIONS.run(&self.write).await?),
        }
    }

    /// SQLite's migrations run with foreign keys off, as SQLite's procedure for rebuilding a
    /// table asks (a rebuilt table's rows are referenced from other tables; dropping the old
    /// one would otherwise fail): the references are checked once the migrations are done, then
    /// enforced again. `PRAGMA foreign_keys` is a no-op inside a transaction, so this is done on
    /// the writer connection around the migrator (which runs each migration in a transaction).
    async fn migrate_sqlite(&self) -> Result<()> {
        let mut conn = self.write.acquire().await.map_err(StoreError::Unavailable)?;
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let migrated = SQLITE_MIGRATIONS.run(&mut *conn).await;
        let dangling = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *conn).await;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        migrated?;
        let dangling = dangling?;
        if let Some(row) = dangling.first() {
            let table: String = row.try_get(0)?;
            return Err(StoreError::Corrupt(format!(
                "{} row(s) reference missing rows after migrating (first in table {table})",
                dangling.len()
            )));
        }
        Ok(())
    }

    /// SQLite's `PRAGMA synchronous` on the writer connection (`FULL` = 2, `NORMAL` = 1); `None`
    /// on PostgreSQL.
    ///
    /// # Errors
    /// A database failure.
    pub async fn sqlite_synchronous(&self) -> Result<Option<i64>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA synchronous").fetch_one(&self.write).await?;
        Ok(Some(row.try_get(0)?))
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// The database does not answer.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await.map_err(StoreError::Unavailable)?;
        Ok(())
    }

    /// Waits for in-flight statements and closes every connection (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// Returns the setting `key`, storing `init()` first if there is none. Every hub node sharing
    /// the database agrees on the value.
    ///
    /// # Errors
    /// A database failure.
    pub async fn setting_or_init(&self, key: &str, init: impl FnOnce() -> String) -> Result<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(init())
            .execute(&self.write)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(&self.write).await?;
        Ok(row.try_get("value")?)
    }

    /// Replaces the setting `key` if it still holds `old` (so that nodes starting together agree).
    /// Returns whether this call changed it.
    ///
    /// # Errors
    /// A database failure.
    pub async fn replace_setting(&self, key: &str, old: &str, new: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE settings SET value = $3 WHERE key = $1 AND value = $2")
            .bind(key)
            .bind(old)
            .bind(new)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- customers and conversations ------------------------------------------------------

    /// Creates a customer and their first conversation on `channel`, in one transaction.
    ///
    /// # Errors
    /// A handle already belongs to another customer ([`StoreError::Conflict`]), or a database failure.
    pub async fn create_customer_with_conversation(
        &self,
        new: NewCustomer,
        channel: Channel,
        status: ConversationStatus,
    ) -> Result<(Customer, Conversation)> {
        let now = now_ms();
        let created_at = from_ms(now)?;
        let customer = Customer {
            id: CustomerId::new(),
            name: new.name,
            email: new.email,
            language: new.language,
            tier: new.tier,
            handles: new.handles,
            created_at,
        };
        let conversation = Conversation {
            id: ConversationId::new(),
            customer_id: customer.id,
            channel,
            status,
            assignee_id: None,
            language: customer.language,
            last_seq: 0,
            created_at,
            updated_at: created_at,
        };
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO customers (id, name, email, language, tier, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(customer.id.to_string())
        .bind(customer.name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(customer.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(customer.language.as_str())
        .bind(customer.tier.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        identity::insert_new_handles(&mut tx, customer.id, &customer.handles, now).await?;
        sqlx::query(
            "INSERT INTO conversations (id, customer_id, channel, status, assignee_id, language, last_seq, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, 0, $6, $6)",
        )
        .bind(conversation.id.to_string())
        .bind(customer.id.to_string())
        .bind(channel.as_str())
        .bind(status.as_str())
        .bind(conversation.language.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        reports::conversation_created(&mut tx, &conversation.id.to_string(), now).await?;
        tx.commit().await?;
        Ok((customer, conversation))
    }

    /// The customer `id`, with their contact handles.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn customer(&self, id: CustomerId) -> Result<Customer> {
        let row = sqlx::query("SELECT id, name, email, language, tier, created_at FROM customers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "customer" })?;
        let handles =
            sqlx::query("SELECT channel, handle FROM customer_handles WHERE customer_id = $1 ORDER BY channel, handle")
                .bind(id.to_string())
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| Ok(ContactHandle { channel: parse(r, "channel")?, handle: r.try_get("handle")? }))
                .collect::<Result<_>>()?;
        Ok(Customer {
            id: parse(&row, "id")?,
            name: parse_opt(&row, "name")?,
            email: parse_opt(&row, "email")?,
            language: parse(&row, "language")?,
            tier: parse(&row, "tier")?,
            handles,
            created_at: from_ms(row.try_get("created_at")?)?,
        })
    }

    /// The conversation `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn conversation(&self, id: ConversationId) -> Result<Conversation> {
        let row = sqlx::query(&format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "conversation" })?;
        conversation_from_row(&row)
    }

    /// Conversations, most recently active first, optionally only those in `status`.
    /// `cursor` is the `next_cursor` of the previous page.
    ///
    /// # Errors
    /// A malformed cursor ([`StoreError::Corrupt`] is not used: it is a [`ValidationError`]), or a
    /// database failure.
    pub async fn list_conversations(
        &self,
        status: Option<ConversationStatus>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>, ListError> {
        let after = cursor.map(Cursor::decode).transpose()?;
        let mut sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if status.is_some() {
            sql.push_str(&format!(" AND status = {}", next()));
        }
        if after.is_some() {
            let (a, b, c) = (next(), next(), next());
            sql.push_str(&format!(" AND (updated_at < {a} OR (updated_at = {b} AND id < {c}))"));
        }
        sql.push_str(&format!(" ORDER BY updated_at DESC, id DESC LIMIT {}", next()));
        let mut q = sqlx::query(&sql);
        if let Some(s) = status {
            q = q.bind(s.as_str());
        }
        if let Some(c) = &after {
            q = q.bind(c.updated_at).bind(c.updated_at).bind(c.id.clone());
        }
        let fetch = i64::from(limit) + 1;
        let rows = q.bind(fetch).fetch_all(&self.read).await.map_err(StoreError::from)?;
        let mut items = rows.iter().map(conversation_from_row).collect::<Result<Vec<_>>>()?;
        let next_cursor = Cursor::after_page(&mut items, limit, |c| (c.updated_at, c.id.to_string()));
        Ok(Page { items, next_cursor })
    }

    // ---- messages --------------------------------------------------------------------------

    /// Up to `limit` messages of a conversation with `seq > after_seq`, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(conversation.to_string())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
    }

    // ---- staff -----------------------------------------------------------------------------

    /// Creates a staff member.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the e-mail address is taken, or a database failure.
    pub async fn create_agent(&self, new: NewAgent) -> Result<Agent> {
        let email = new.email.clone();
        insert_agent(&self.write, new).await.map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(format!("{email} is already a staff member")),
            other => other,
        })
    }

    /// The staff member with `email` and their password hash, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn agent_credentials(&self, email: &crate::EmailAddress) -> Result<Option<(Agent, String)>> {
        let row = sqlx::query(&format!("SELECT {AGENT_COLUMNS}, password_hash FROM agents WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok((agent_from_row(&r)?, r.try_get("password_hash")?))).transpose()
    }

    /// The staff member `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn agent(&self, id: AgentId) -> Result<Agent> {
        let row = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "agent" })?;
        agent_from_row(&row)
    }

    /// Every staff member, by name.
    ///
    /// # Errors
    /// A database failure.
    pub async fn agents(&self) -> Result<Vec<Agent>> {
        sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY name, id"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(agent_from_row)
            .collect()
    }

    /// Stores a new staff session (by the token's digest).
    ///
    /// # Errors
    /// A database failure.
    pub async fn create_session(
        &self,
        token_digest: &str,
        agent: &Agent,
        method: AuthMethod,
        expires_at: OffsetDateTime,
    ) -> Result<StaffSession> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO staff_sessions (token_digest, agent_id, auth_method, authenticated_at, last_seen_at, \
             expires_at, revoked_at, created_at) VALUES ($1, $2, $3, $4, $4, $5, NULL, $4)",
        )
        .bind(token_digest)
        .bind(agent.id.to_string())
        .bind(method.as_str())
        .bind(now)
        .bind(ms(expires_at))
        .execute(&self.write)
        .await?;
        let at = from_ms(now)?;
        Ok(StaffSession {
            token_digest: token_digest.to_owned(),
            agent: agent.clone(),
            auth_method: method,
            created_at: at,
            authenticated_at: at,
            last_seen_at: at,
            expires_at,
        })
    }

    /// The live (not revoked, not expired) session with this digest, with its staff member.
    ///
    /// # Errors
    /// A database failure.
    pub async fn live_session(&self, token_digest: &str) -> Result<Option<StaffSession>> {
        let row = sqlx::query(&format!(
            "SELECT s.auth_method, s.created_at AS session_created_at, s.authenticated_at, s.last_seen_at, s.expires_at, {} \
             FROM staff_sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.token_digest = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
            AGENT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(token_digest)
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let method: String = row.try_get("auth_method")?;
        Ok(Some(StaffSession {
            token_digest: token_digest.to_owned(),
            agent: agent_from_row(&row)?,
            auth_method: match method.as_str() {
                "password" => AuthMethod::Password,
                "sso" => AuthMethod::Sso,
                other => return Err(StoreError::Corrupt(format!("auth method {other:?}"))),
            },
            created_at: from_ms(row.try_get("session_created_at")?)?,
            authenticated_at: from_ms(row.try_get("authenticated_at")?)?,
            last_seen_at: from_ms(row.try_get("last_seen_at")?)?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
        }))
    }

    /// Records activity on a session and pushes its idle expiry to `expires_at`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn touch_session(&self, token_digest: &str, expires_at: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = $2, expires_at = $3 WHERE token_digest = $1")
            .bind(token_digest)
            .bind(now_ms())
            .bind(ms(expires_at))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records that the staff member of a live session proved who they are again (step-up): its
    /// `authenticated_at` becomes `at`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when no live session has this digest, or a database failure.
    pub async fn reauthenticate_session(&self, token_digest: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE staff_sessions SET authenticated_at = $2 \
             WHERE token_digest = $1 AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(token_digest)
        .bind(ms(at))
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "session" });
        }
        Ok(())
    }

    /// Ends a session (sign-out).
    ///
    /// # Errors
    /// A database failure.
    pub async fn revoke_session(&self, token_digest: &str) -> Result<()> {
        sqlx::query("UPDATE staff_sessions SET revoked_at = $2 WHERE token_digest = $1 AND revoked_at IS NULL")
            .bind(token_digest)
            .bind(now_ms())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

/// Listing failed: a bad cursor from the caller, or the store.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    BadCursor(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keyset pagination position: the time (ms) and id of the last item returned.
pub(super) struct Cursor {
    pub(super) updated_at: i64,
    pub(super) id: String,
}

impl Cursor {
    pub(super) fn encode(&self) -> String {
        format!("{}_{}", self.updated_at, self.id)
    }

    /// `items` were fetched with one more than `limit`: cuts them to `limit` and returns the
    /// cursor of the next page, if there is one.
    pub(super) fn after_page<T>(
        items: &mut Vec<T>,
        limit: u32,
        key: impl Fn(&T) -> (OffsetDateTime, String),
    ) -> Option<String> {
        if items.len() <= limit as usize {
            return None;
        }
        items.truncate(limit as usize);
        items.last().map(|item| {
            let (at, id) = key(item);
            Self { updated_at: ms(at), id }.encode()
        })
    }

    /// A cursor whose id is a conversation id.
    fn decode(s: &str) -> Result<Self, ValidationError> {
        let cursor = Self::decode_any(s)?;
        let id: ConversationId = cursor.id.parse().map_err(|_| Self::bad())?;
        Ok(Self { updated_at: cursor.updated_at, id: id.to_string() })
    }

    /// A cursor with any non-empty id.
    pub(super) fn decode_any(s: &str) -> Result<Self, ValidationError> {
        let (t, id) = s.split_once('_').ok_or_else(Self::bad)?;
        let updated_at = t.parse().map_err(|_| Self::bad())?;
        if id.is_empty() {
            return Err(Self::bad());
        }
        Ok(Self { updated_at, id: id.to_owned() })
    }

    fn bad() -> ValidationError {
        ValidationError::Invalid { field: "cursor", reason: "not a cursor from a previous page".into() }
    }
}

/// The URL with any password replaced, for error messages and logs.
#[must_use]
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `text` for a `LIKE … ESCAPE '\'` pattern: `%`, `_` and `\` stand for themselves.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes a new staff member through `exec` (the pool, or a transaction that links more to them).
pub(super) async fn insert_agent<'e, E>(exec: E, new: NewAgent) -> Result<Agent>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let now = now_ms();
    let agent = Agent {
        id: AgentId::new(),
        email: new.email,
        name: new.name,
        roles: new.roles,
        active: true,
        created_at: from_ms(now)?,
    };
    sqlx::query(
        "INSERT INTO agents (id, email, name, roles, password_hash, disabled_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6)",
    )
    .bind(agent.id.to_string())
    .bind(agent.email.as_str())
    .bind(agent.name.as_str())
    .bind(roles_to_text(&agent.roles))
    .bind(new.password_hash)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(agent)
}
