//! The audit trail in the store: appending entries to the hash chain (serialised, so it never
//! forks), reading them by filter in keyset pages, and pruning old entries behind an anchor.

use std::net::IpAddr;

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{Backend, Result, Store, StoreError, from_ms, ms, now_ms, parse, parse_opt};
use crate::audit::{AuditAction, AuditAnchor, AuditEntry, ChainHash, NewAuditEntry, TargetKind, link};
use crate::ids::AgentId;

/// The PostgreSQL advisory lock key that serialises appends and pruning ("sbaudit" in ASCII).
const CHAIN_LOCK: i64 = 0x0073_6261_7564_6974;

const AUDIT_COLUMNS: &str = "seq, at, actor_kind, actor_id, action, target_kind, target_id, source_ip, before_json, \
     after_json, details, prev_hash, hash";

/// Which entries to read. Every field narrows; none: every entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<AgentId>,
    pub action: Option<AuditAction>,
    pub target_kind: Option<TargetKind>,
    pub target_id: Option<String>,
    /// At or after this time.
    pub from: Option<OffsetDateTime>,
    /// Before this time.
    pub to: Option<OffsetDateTime>,
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry> {
    let ip: Option<String> = row.try_get("source_ip")?;
    let source_ip = ip
        .map(|s| s.parse::<IpAddr>().map_err(|_| StoreError::Corrupt(format!("audit source address {s:?}"))))
        .transpose()?;
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: from_ms(row.try_get("at")?)?,
        entry: NewAuditEntry {
            actor_kind: parse(row, "actor_kind")?,
            actor_id: parse_opt(row, "actor_id")?,
            action: parse(row, "action")?,
            target_kind: parse_opt(row, "target_kind")?,
            target_id: row.try_get("target_id")?,
            source_ip,
            before: row.try_get("before_json")?,
            after: row.try_get("after_json")?,
            details: row.try_get("details")?,
        },
        prev_hash: parse(row, "prev_hash")?,
        hash: parse(row, "hash")?,
    })
}

fn anchor_from_row(row: &AnyRow) -> Result<AuditAnchor> {
    Ok(AuditAnchor { seq: row.try_get("seq")?, hash: parse(row, "hash")? })
}

impl Store {
    /// Takes the chain's lock for the rest of the transaction (PostgreSQL; SQLite has one writer).
    async fn lock_audit_chain(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        if self.backend == Backend::Postgres {
            // The lock function returns `void`, which the `Any` driver cannot decode: select a constant.
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(CHAIN_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Appends an entry at the head of the chain: reads the last hash and inserts under the
    /// chain's lock, in one transaction, so two appends never link to the same entry.
    ///
    /// # Errors
    /// A database failure.
    pub async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        let mut tx = self.write.begin().await?;
        self.lock_audit_chain(&mut tx).await?;
        let head = match sqlx::query("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => Some(anchor_from_row(&row)?),
            None => sqlx::query("SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| anchor_from_row(&row))
                .transpose()?,
        };
        let (last_seq, last_hash) = head.map_or((0, ChainHash::GENESIS), |h| (h.seq, h.hash));
        let stored = link(last_seq + 1, from_ms(now_ms())?, entry, last_hash);
        let e = &stored.entry;
        sqlx::query(&format!(
            "INSERT INTO audit_entries ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(stored.seq)
        .bind(ms(stored.at))
        .bind(e.actor_kind.as_str())
        .bind(e.actor_id.map(|a| a.to_string()))
        .bind(e.action.as_str())
        .bind(e.target_kind.map(TargetKind::as_str))
        .bind(e.target_id.clone())
        .bind(e.source_ip.map(|ip| ip.to_string()))
        .bind(e.before.clone())
        .bind(e.after.clone())
        .bind(e.details.clone())
        .bind(stored.prev_hash.to_string())
        .bind(stored.hash.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Up to `limit` entries matching `filter`: newest first below seq `before` (keyset paging for
    /// people), or oldest first above seq `after` (export and verification).
    ///
    /// # Errors
    /// A database failure.
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        position: AuditPosition,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_entries WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut binds: Vec<Bind> = Vec::new();
        let mut cond = |sql: &mut String, expr: &str, bind: Bind| {
            sql.push_str(&format!(" AND {expr} {}", next()));
            binds.push(bind);
        };
        if let Some(a) = filter.actor {
            cond(&mut sql, "actor_id =", Bind::Text(a.to_string()));
        }
        if let Some(a) = filter.action {
            cond(&mut sql, "action =", Bind::Text(a.as_str().to_owned()));
        }
        if let Some(k) = filter.target_kind {
            cond(&mut sql, "target_kind =", Bind::Text(k.as_str().to_owned()));
        }
        if let Some(id) = &filter.target_id {
            cond(&mut sql, "target_id =", Bind::Text(id.clone()));
        }
        if let Some(t) = filter.from {
            cond(&mut sql, "at >=", Bind::Int(ms(t)));
        }
        if let Some(t) = filter.to {
            cond(&mut sql, "at <", Bind::Int(ms(t)));
        }
        let order = match position {
            AuditPosition::NewestBefore(before) => {
                if let Some(b) = before {
                    cond(&mut sql, "seq <", Bind::Int(b));
                }
                "DESC"
            }
            AuditPosition::OldestAfter(after) => {
                cond(&mut sql, "seq >", Bind::Int(after));
                "ASC"
            }
        };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT {}", next()));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        q.bind(i64::from(limit)).fetch_all(&self.read).await?.iter().map(audit_from_row).collect()
    }

    /// The newest anchor: where pruning last cut the chain.
    ///
    /// # Errors
    /// A database failure.
    pub async fn audit_anchor(&self) -> Result<Option<AuditAnchor>> {
        sqlx::query("SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.read)
            .await?
            .map(|row| anchor_from_row(&row))
            .transpose()
    }

    /// Deletes the entries appended before `cutoff` (by seq: every entry up to the last one older
    /// than `cutoff`), after writing an anchor with the seq and hash of the last one deleted, in
    /// one transaction under the chain's lock. Returns the anchor and how many went, or `None`
    /// when nothing is that old.
    ///
    /// # Errors
    /// A database failure.
    pub async fn prune_audit(&self, cutoff: OffsetDateTime) -> Result<Option<(AuditAnchor, u64)>> {
        let mut tx = self.write.begin().await?;
        self.lock_audit_chain(&mut tx).await?;
        let last = sqlx::query(
            "SELECT seq, hash FROM audit_entries WHERE seq = (SELECT MAX(seq) FROM audit_entries WHERE at < $1)",
        )
        .bind(ms(cutoff))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = last else { return Ok(None) };
        let anchor = anchor_from_row(&row)?;
        sqlx::query("INSERT INTO audit_anchors (seq, hash, pruned_at, pruned) VALUES ($1, $2, $3, 0)")
            .bind(anchor.seq)
            .bind(anchor.hash.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let pruned = sqlx::query("DELETE FROM audit_entries WHERE seq <= $1")
            .bind(anchor.seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE audit_anchors SET pruned = $2 WHERE seq = $1")
            .bind(anchor.seq)
            .bind(i64::try_from(pruned).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((anchor, pruned)))
    }
}

/// Where a page of [`Store::audit_entries`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditPosition {
    /// Newest first, below this seq (`None`: from the newest).
    NewestBefore(Option<i64>),
    /// Oldest first, above this seq (0: from the oldest).
    OldestAfter(i64),
}

enum Bind {
    Text(String),
    Int(i64),
}
