//! The embedded billing system's records (`bss_records`, migration 0019): JSON documents of the
//! `bss` crate's model, keyed by kind and id, with the columns they are looked up by. This module
//! knows nothing of what a document holds (the `bss` crate does, through [`BssRecord::body`]);
//! it stores, finds and changes them, a write of several records always in one transaction.
//!
//! Why documents rather than a table per record: the embedded BSS stands in for the operator's
//! system on a laptop or in a demo; the hub reads it only through the `bss::Bss` trait, by the
//! same keys a TMF API offers (customer, account, product, bill, external id), never by a field
//! inside a record. One table with those keys indexed serves every lookup with an index, keeps
//! writes atomic, and lets the model grow without a migration per field.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Result, Store, StoreError, from_ms, like_escape, now_ms};
use crate::domain::{Customer, NewCustomer};
use crate::ids::CustomerId;
use crate::values::CustomerTier;

/// The kinds of record the embedded BSS keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BssKind {
    Customer,
    Account,
    Product,
    Bill,
    Usage,
    Offering,
    Order,
    Adjustment,
    Arrangement,
}

impl BssKind {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Account => "account",
            Self::Product => "product",
            Self::Bill => "bill",
            Self::Usage => "usage",
            Self::Offering => "offering",
            Self::Order => "order",
            Self::Adjustment => "adjustment",
            Self::Arrangement => "arrangement",
        }
    }
}

/// One record of the embedded BSS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BssRecord {
    pub kind: BssKind,
    pub id: String,
    /// The BSS customer it belongs to.
    pub customer_ref: Option<String>,
    /// The billing account it belongs to.
    pub account_ref: Option<String>,
    /// The hub's id of the write that made it (orders, adjustments, arrangements).
    pub external_id: Option<String>,
    /// Lists are newest first by this (an ISO 8601 date or time).
    pub sort_key: String,
    /// What a customer search matches: lower-case words framed by line feeds.
    pub lookup: Option<String>,
    /// The JSON document.
    pub body: String,
}

/// The most records one list returns.
pub const MAX_BSS_LIST: u32 = 500;

const COLUMNS: &str = "kind, id, customer_ref, account_ref, external_id, sort_key, lookup, body";

fn kind_from(text: &str) -> Result<BssKind> {
    Ok(match text {
        "customer" => BssKind::Customer,
        "account" => BssKind::Account,
        "product" => BssKind::Product,
        "bill" => BssKind::Bill,
        "usage" => BssKind::Usage,
        "offering" => BssKind::Offering,
        "order" => BssKind::Order,
        "adjustment" => BssKind::Adjustment,
        "arrangement" => BssKind::Arrangement,
        other => return Err(StoreError::Corrupt(format!("unknown BSS record kind {other:?}"))),
    })
}

fn record_from(row: &AnyRow) -> Result<BssRecord> {
    Ok(BssRecord {
        kind: kind_from(&row.try_get::<String, _>("kind")?)?,
        id: row.try_get("id")?,
        customer_ref: row.try_get("customer_ref")?,
        account_ref: row.try_get("account_ref")?,
        external_id: row.try_get("external_id")?,
        sort_key: row.try_get("sort_key")?,
        lookup: row.try_get("lookup")?,
        body: row.try_get("body")?,
    })
}

const UPSERT: &str = "INSERT INTO bss_records (kind, id, customer_ref, account_ref, external_id, sort_key, lookup, body, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, id) DO UPDATE SET \
     customer_ref = excluded.customer_ref, account_ref = excluded.account_ref, external_id = excluded.external_id, \
     sort_key = excluded.sort_key, lookup = excluded.lookup, body = excluded.body, updated_at = excluded.updated_at";

const INSERT_MISSING: &str = "INSERT INTO bss_records (kind, id, customer_ref, account_ref, external_id, sort_key, \
     lookup, body, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, id) DO NOTHING";

fn bind_record<'q>(
    sql: &'q str,
    r: &'q BssRecord,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(r.kind.as_str())
        .bind(r.id.as_str())
        .bind(r.customer_ref.as_deref())
        .bind(r.account_ref.as_deref())
        .bind(r.external_id.as_deref())
        .bind(r.sort_key.as_str())
        .bind(r.lookup.as_deref())
        .bind(r.body.as_str())
        .bind(now)
}

impl Store {
    /// The record `kind`/`id`, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_record(&self, kind: BssKind, id: &str) -> Result<Option<BssRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND id = $2"))
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| record_from(&r))
            .transpose()
    }

    /// The records of `kind` belonging to the BSS customer `customer_ref`, newest first, at most
    /// `limit` (capped at [`MAX_BSS_LIST`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_records_of_customer(
        &self,
        kind: BssKind,
        customer_ref: &str,
        limit: u32,
    ) -> Result<Vec<BssRecord>> {
        self.bss_list("customer_ref", kind, customer_ref, limit).await
    }

    /// The records of `kind` belonging to the billing account `account_ref`, newest first, at
    /// most `limit` (capped at [`MAX_BSS_LIST`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_records_of_account(&self, kind: BssKind, account_ref: &str, limit: u32) -> Result<Vec<BssRecord>> {
        self.bss_list("account_ref", kind, account_ref, limit).await
    }

    async fn bss_list(&self, column: &str, kind: BssKind, key: &str, limit: u32) -> Result<Vec<BssRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND {column} = $2 ORDER BY sort_key DESC, id LIMIT $3"
        ))
        .bind(kind.as_str())
        .bind(key)
        .bind(i64::from(limit.min(MAX_BSS_LIST)))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(record_from)
        .collect()
    }

    /// Every record of `kind` (the catalogue), by id, at most [`MAX_BSS_LIST`].
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_records_of_kind(&self, kind: BssKind) -> Result<Vec<BssRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM bss_records WHERE kind = $1 ORDER BY id LIMIT $2"))
            .bind(kind.as_str())
            .bind(i64::from(MAX_BSS_LIST))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(record_from)
            .collect()
    }

    /// The record of `kind` written for the hub's `external_id`, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_record_by_external_id(&self, kind: BssKind, external_id: &str) -> Result<Option<BssRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND external_id = $2"))
            .bind(kind.as_str())
            .bind(external_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| record_from(&r))
            .transpose()
    }

    /// Records of `kind` whose lookup text holds `needle` (lower-cased by the caller); with
    /// `whole`, as one whole line of it (an exact e-mail address or phone number). By id, at
    /// most `limit` (capped at [`MAX_BSS_LIST`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_search(&self, kind: BssKind, needle: &str, whole: bool, limit: u32) -> Result<Vec<BssRecord>> {
        let pattern =
            if whole { format!("%\n{}\n%", like_escape(needle)) } else { format!("%{}%", like_escape(needle)) };
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND lookup LIKE $2 ESCAPE '\\' ORDER BY id LIMIT $3"
        ))
        .bind(kind.as_str())
        .bind(pattern)
        .bind(i64::from(limit.min(MAX_BSS_LIST)))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(record_from)
        .collect()
    }

    /// Writes `records` (inserting or replacing each), all or none.
    ///
    /// # Errors
    /// A database failure, or [`StoreError::Conflict`] for an external id already used.
    pub async fn bss_put(&self, records: &[BssRecord]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        for r in records {
            bind_record(UPSERT, r, now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes those of `records` that do not exist yet (by kind and id), all in one transaction;
    /// returns how many were new. Seeding twice changes nothing.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_insert_missing(&self, records: &[BssRecord]) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let mut added = 0;
        for r in records {
            added += bind_record(INSERT_MISSING, r, now).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Creates a hub customer (with their handles) already linked to the billing system's
    /// customer `bss_id`, in one transaction, without a conversation: how the demo seed and
    /// tests bring in a customer known to billing before they ever write.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a handle or `bss_id` belongs to another customer, or a
    /// database failure.
    pub async fn create_linked_customer(&self, new: NewCustomer, bss_id: &str) -> Result<Customer> {
        let now = now_ms();
        let customer = Customer {
            id: CustomerId::new(),
            name: new.name,
            email: new.email,
            language: new.language,
            tier: new.tier,
            handles: new.handles,
            created_at: from_ms(now)?,
        };
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO customers (id, name, email, language, tier, created_at, bss_customer_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(customer.id.to_string())
        .bind(customer.name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(customer.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(customer.language.as_str())
        .bind(customer.tier.as_str())
        .bind(now)
        .bind(bss_id)
        .execute(&mut *tx)
        .await?;
        super::identity::insert_new_handles(&mut tx, customer.id, &customer.handles, now).await?;
        tx.commit().await?;
        Ok(customer)
    }

    /// Sets the hub customer `id`'s tier (from the BSS segment, so tier routing rules fire);
    /// returns whether it changed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown customer, or a database failure.
    pub async fn set_customer_tier(&self, id: CustomerId, tier: CustomerTier) -> Result<bool> {
        let done = sqlx::query("UPDATE customers SET tier = $2 WHERE id = $1 AND tier <> $2")
            .bind(id.to_string())
            .bind(tier.as_str())
            .execute(&self.write)
            .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        let exists = sqlx::query("SELECT 1 AS one FROM customers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .is_some();
        if exists { Ok(false) } else { Err(StoreError::NotFound { what: "customer" }) }
    }

    /// Starts a read-modify-write of records: lock what the change depends on with
    /// [`BssTx::lock`], read, then [`BssTx::put`] and [`BssTx::commit`]. Dropped without commit,
    /// nothing is written.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bss_begin(&self) -> Result<BssTx> {
        Ok(BssTx { tx: self.write.begin().await?, backend: self.backend, now: now_ms() })
    }
}

/// A transaction over the embedded BSS's records (see [`Store::bss_begin`]).
#[derive(Debug)]
pub struct BssTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    now: i64,
}

impl BssTx {
    /// Reads the record `kind`/`id` and holds it until the commit: concurrent changes of the same
    /// record wait (PostgreSQL locks the row; SQLite has one writer).
    ///
    /// # Errors
    /// A database failure.
    pub async fn lock(&mut self, kind: BssKind, id: &str) -> Result<Option<BssRecord>> {
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
        sqlx::query(&format!("SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND id = $2{lock}"))
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| record_from(&r))
            .transpose()
    }

    /// The records of `kind` of the customer `customer_ref`, newest first (capped at
    /// [`MAX_BSS_LIST`]), as this transaction sees them.
    ///
    /// # Errors
    /// A database failure.
    pub async fn of_customer(&mut self, kind: BssKind, customer_ref: &str) -> Result<Vec<BssRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND customer_ref = $2 ORDER BY sort_key DESC, id \
             LIMIT $3"
        ))
        .bind(kind.as_str())
        .bind(customer_ref)
        .bind(i64::from(MAX_BSS_LIST))
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(record_from)
        .collect()
    }

    /// The record of `kind` written for `external_id`, as this transaction sees it.
    ///
    /// # Errors
    /// A database failure.
    pub async fn by_external_id(&mut self, kind: BssKind, external_id: &str) -> Result<Option<BssRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM bss_records WHERE kind = $1 AND external_id = $2"))
            .bind(kind.as_str())
            .bind(external_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| record_from(&r))
            .transpose()
    }

    /// Inserts or replaces `record`.
    ///
    /// # Errors
    /// A database failure, or [`StoreError::Conflict`] for an external id already used.
    pub async fn put(&mut self, record: &BssRecord) -> Result<()> {
        bind_record(UPSERT, record, self.now).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Commits every change.
    ///
    /// # Errors
    /// A database failure, or [`StoreError::Conflict`] when another write took the same external
    /// id first.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("a%b_c\\d"), "a\\%b\\_c\\\\d");
        for k in [BssKind::Customer, BssKind::Bill, BssKind::Arrangement] {
            assert_eq!(kind_from(k.as_str()).ok(), Some(k));
        }
        assert!(kind_from("nope").is_err());
    }
}
