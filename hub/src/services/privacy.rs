//! Data-subject rights (GDPR, LGPD) and retention: finding a customer and what is held about
//! them, their legal hold, the export of everything about them as a `.tar.gz`, their erasure, and
//! the scheduled job that enforces the retention settings.
//!
//! The export is spooled to a temporary file page by page (memory stays bounded whatever the
//! customer's history) and streamed from there; the file is unlinked as soon as it is open, so
//! nothing is left on disk. Layout: `manifest.json` (schema version, time, counts), one JSON
//! array per kind (`messages.json`, …), and raw mail and files under the kind's folder
//! (`emails_inbound/1.eml`, `email_attachments/1.bin`, …), named by the record's `file` field.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use schema::{CustomerId, CustomerMatch, EraseError, ExportKind, Holdings, RetentionKind, Store};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::Core;
use super::archive::TarGz;
use super::bot::Assistant;
use super::leader::Lease;
use super::settings::{Retention, Settings};
use crate::config::RetentionConfig;
use crate::error::Error;

/// The version of the export's layout, in `manifest.json`.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;
/// Records read from the store at a time while exporting.
const EXPORT_PAGE: u32 = 100;
/// Raw mails and files read from the store at a time (each may be megabytes).
const EXPORT_FILE_PAGE: u32 = 4;
/// Most customers a search returns.
pub const MAX_MATCHES: u32 = 50;
const DAY_MS: i64 = 86_400_000;

/// What is held about a customer.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerPrivacy {
    pub id: CustomerId,
    pub legal_hold: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub erased_at: Option<OffsetDateTime>,
    pub holdings: Holdings,
}

/// A finished export: an open, already unlinked file, positioned at its start.
#[derive(Debug)]
pub struct Export {
    pub file: File,
    pub size: u64,
    pub file_name: String,
}

/// What one run of the retention job changed, by data kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub changed: Vec<(RetentionKind, u64)>,
}

/// The privacy service.
#[derive(Debug)]
pub struct Privacy {
    core: Core,
    settings: Arc<Settings>,
    assistant: Option<Arc<Assistant>>,
    config: RetentionConfig,
}

#[derive(Serialize)]
struct Manifest<'a> {
    schema_version: u32,
    #[serde(with = "time::serde::rfc3339")]
    generated_at: OffsetDateTime,
    customer_id: CustomerId,
    format: &'static str,
    /// Records per kind (each is `<kind>.json`).
    counts: serde_json::Map<String, serde_json::Value>,
    /// Raw mails and files per kind.
    files: serde_json::Map<String, serde_json::Value>,
    notes: &'a [&'a str],
}

const NOTES: &[&str] = &[
    "Each <kind>.json is a JSON array of the stored records, one object per row, columns by name; times are Unix milliseconds.",
    "A record with a file (raw mail, attachment, web chat file) names it in its `file` field; a purged one has none.",
];

fn io_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("export file: {e}"))
}

impl Privacy {
    #[must_use]
    pub fn new(
        core: Core,
        settings: Arc<Settings>,
        assistant: Option<Arc<Assistant>>,
        config: RetentionConfig,
    ) -> Self {
        Self { core, settings, assistant, config }
    }

    fn store(&self) -> &Store {
        &self.core.store
    }

    /// Customers whose name, e-mail address or a handle contains `query`.
    ///
    /// # Errors
    /// 422 for an empty or over-long query; the store fails.
    pub async fn find(&self, query: &str) -> Result<Vec<CustomerMatch>, Error> {
        let query = query.trim();
        if query.is_empty() || query.chars().count() > 100 {
            return Err(Error::invalid("q", "1 to 100 characters"));
        }
        Ok(self.store().find_customers(query, MAX_MATCHES).await?)
    }

    /// The customer's legal hold, erasure and counts of what is held.
    ///
    /// # Errors
    /// 404 for an unknown customer; the store fails.
    pub async fn describe(&self, id: CustomerId) -> Result<CustomerPrivacy, Error> {
        let (legal_hold, erased_at) = self.store().customer_privacy(id).await?;
        let holdings = self.store().customer_holdings(id).await?;
        Ok(CustomerPrivacy { id, legal_hold, erased_at, holdings })
    }

    /// Sets or clears the customer's legal hold.
    ///
    /// # Errors
    /// 404 for an unknown customer; the store fails.
    pub async fn set_legal_hold(
        &self,
        id: CustomerId,
        hold: bool,
        by: schema::AgentId,
    ) -> Result<CustomerPrivacy, Error> {
        self.store().set_legal_hold(id, hold).await?;
        tracing::info!(customer = %id, hold, by = %by, "legal hold changed");
        self.describe(id).await
    }

    /// Erases the customer (see `Store::erase_customer`), then re-indexes the knowledge-base
    /// documents their questions were taken out of.
    ///
    /// # Errors
    /// 409 `legal_hold`; 404 for an unknown customer; the store fails (nothing is changed).
    pub async fn erase(&self, id: CustomerId, by: schema::AgentId) -> Result<CustomerPrivacy, Error> {
        let erased = self.store().erase_customer(id).await.map_err(|e| match e {
            EraseError::LegalHold => Error::LegalHold("the customer is under legal hold".into()),
            EraseError::Store(s) => s.into(),
        })?;
        if let Some(assistant) = &self.assistant {
            for doc in &erased.documents {
                let doc = self.store().document(*doc).await?;
                assistant.reindex(&doc).await?;
            }
        }
        tracing::info!(customer = %id, by = %by, again = erased.already, documents = erased.documents.len(), "customer erased");
        self.describe(id).await
    }

    /// Everything about the customer as a `.tar.gz` (see the module's documentation).
    ///
    /// # Errors
    /// 404 for an unknown customer; the store or the temporary file fails.
    pub async fn export(&self, id: CustomerId, by: schema::AgentId) -> Result<Export, Error> {
        self.store().customer_privacy(id).await?;
        let now = OffsetDateTime::now_utc();
        let archive = tempfile().map_err(io_error)?;
        let mut tar = TarGz::new(BufWriter::new(archive), u64::try_from(now.unix_timestamp()).unwrap_or(0));
        let mut counts = serde_json::Map::new();
        let mut files = serde_json::Map::new();
        for kind in ExportKind::ALL {
            let (records, attached) = self.export_kind(&mut tar, kind, id).await?;
            counts.insert(kind.name().to_owned(), records.into());
            if kind.file_extension().is_some() {
                files.insert(kind.name().to_owned(), attached.into());
            }
        }
        let manifest = Manifest {
            schema_version: EXPORT_SCHEMA_VERSION,
            generated_at: now,
            customer_id: id,
            format: "tar.gz",
            counts,
            files,
            notes: NOTES,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(io_error)?;
        tar.append_bytes("manifest.json", &json).map_err(io_error)?;
        let mut file = tar.finish().map_err(io_error)?.into_inner().map_err(io_error)?;
        let size = file.seek(SeekFrom::End(0)).map_err(io_error)?;
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        tracing::info!(customer = %id, by = %by, bytes = size, "customer exported");
        Ok(Export { file, size, file_name: format!("customer-{id}.tar.gz") })
    }

    /// Writes `<kind>.json` (spooled to a file of its own first: a tar entry needs its size up
    /// front) and the kind's files. Returns (records, files).
    async fn export_kind<W: Write>(
        &self,
        tar: &mut TarGz<W>,
        kind: ExportKind,
        id: CustomerId,
    ) -> Result<(u64, u64), Error> {
        let mut spool = BufWriter::new(tempfile().map_err(io_error)?);
        spool.write_all(b"[").map_err(io_error)?;
        let (mut records, mut attached) = (0u64, 0u64);
        let page = if kind.file_extension().is_some() { EXPORT_FILE_PAGE } else { EXPORT_PAGE };
        let mut after = String::new();
        loop {
            let rows = self.store().export_page(kind, id, &after, page).await?;
            let Some(last) = rows.last() else { break };
            after.clone_from(&last.key);
            let full = rows.len() == page as usize;
            for mut row in rows {
                if let (Some(content), Some(ext)) = (row.file.take(), kind.file_extension()) {
                    attached += 1;
                    let name = format!("{}/{attached}.{ext}", kind.name());
                    tar.append_bytes(&name, &content).map_err(io_error)?;
                    row.fields.insert("file".into(), name.into());
                }
                if records > 0 {
                    spool.write_all(b",\n").map_err(io_error)?;
                }
                serde_json::to_writer(&mut spool, &row.fields).map_err(io_error)?;
                records += 1;
            }
            if !full {
                break;
            }
        }
        spool.write_all(b"]\n").map_err(io_error)?;
        let mut spool = spool.into_inner().map_err(io_error)?;
        let size = spool.seek(SeekFrom::End(0)).map_err(io_error)?;
        spool.seek(SeekFrom::Start(0)).map_err(io_error)?;
        tar.append(&format!("{}.json", kind.name()), size, &mut spool).map_err(io_error)?;
        Ok((records, attached))
    }

    /// One run of the retention job: for each data kind, one batch of what is older than its
    /// setting, skipping customers under legal hold.
    ///
    /// # Errors
    /// The store fails (kinds already purged in this run stay purged).
    pub async fn run_retention(&self) -> Result<RetentionReport, Error> {
        let (retention, _) = self.settings.retention();
        let now = super::now_ms();
        let mut report = RetentionReport::default();
        for kind in RetentionKind::ALL {
            let before = now.saturating_sub(i64::from(days(&retention, kind)).saturating_mul(DAY_MS));
            let changed = self.store().purge_expired(kind, before, self.config.batch).await?;
            self.core.metrics.retention_purged.with_label_values(&[kind.as_str()]).inc_by(changed);
            report.changed.push((kind, changed));
        }
        let total: u64 = report.changed.iter().map(|(_, n)| n).sum();
        if total > 0 {
            tracing::info!(
                messages = report.count(RetentionKind::Messages),
                raw_mail = report.count(RetentionKind::RawMail),
                attachments = report.count(RetentionKind::Attachments),
                calls = report.count(RetentionKind::Calls),
                "retention purged expired data"
            );
        }
        Ok(report)
    }

    /// Runs the retention job every `interval_minutes` on the node that holds the `jobs` lease,
    /// until shutdown. Two runs at once (a node finishing one after losing the lease) are
    /// harmless: each batch is idempotent (a tombstone written again, a row deleted once, the
    /// legal hold checked in the same statement).
    pub async fn run(self: Arc<Self>, jobs: Lease) {
        jobs.run_while_held(|term| Arc::clone(&self).run_term(term.token)).await;
    }

    async fn run_term(self: Arc<Self>, term: CancellationToken) {
        let every = Duration::from_secs(self.config.interval_minutes.max(1) * 60);
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                () = term.cancelled() => return,
                _ = interval.tick() => {
                    let outcome = match self.run_retention().await {
                        Ok(_) => "ok",
                        Err(e) => {
                            tracing::warn!(error = %e, "the retention job failed; it runs again at the next interval");
                            "failed"
                        }
                    };
                    self.core.metrics.retention_runs.with_label_values(&[outcome]).inc();
                }
            }
        }
    }
}

impl RetentionReport {
    /// Records of `kind` changed.
    #[must_use]
    pub fn count(&self, kind: RetentionKind) -> u64 {
        self.changed.iter().filter(|(k, _)| *k == kind).map(|(_, n)| *n).sum()
    }
}

/// The days `kind` is kept.
fn days(r: &Retention, kind: RetentionKind) -> u32 {
    match kind {
        RetentionKind::Messages => r.messages_days,
        RetentionKind::RawMail => r.raw_mail_days,
        RetentionKind::Attachments => r.attachments_days,
        RetentionKind::Calls => r.calls_days,
    }
}

/// A new temporary file, already unlinked: it disappears when closed, whatever happens.
fn tempfile() -> std::io::Result<File> {
    let path = std::env::temp_dir().join(format!("switchboard-export-{}", uuid_like()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// A unique enough name for a temporary file.
fn uuid_like() -> String {
    use rand::Rng as _;
    format!("{:032x}", rand::thread_rng().r#gen::<u128>())
}
