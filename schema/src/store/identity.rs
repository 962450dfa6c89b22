//! One customer, many handles: a customer's handles (identities, verified or not), agents'
//! links and unlinks, merging two customers in one transaction, searching customers, and the
//! contact details and consents agents edit.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{Result, Store, StoreError, from_ms, like_escape, now_ms, parse, parse_opt};
use crate::identity::{ConsentKind, HandleKind, Identity, PhoneNumber};
use crate::ids::{AgentId, CustomerId};
use crate::values::{Channel, CustomerTier, DisplayName, EmailAddress, Language};

/// One of a customer's handles, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerHandle {
    pub kind: HandleKind,
    /// Normalised: E.164 for a phone, lower case for an address.
    pub value: String,
    /// Matched on arrival (authenticated by the channel, or linked by an agent).
    pub verified: bool,
    /// Where it was first seen (or the channel an agent linked it as).
    pub channel: Channel,
    /// The exact channel handle first seen.
    pub handle: String,
    /// The agent who linked it (`None`: it arrived).
    pub added_by: Option<AgentId>,
    pub created_at: OffsetDateTime,
}

/// A customer's marketing consent of one kind, with who changed it last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub kind: ConsentKind,
    pub granted: bool,
    pub changed_at: OffsetDateTime,
    pub changed_by: Option<AgentId>,
}

/// What the profile needs beyond [`crate::Customer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerDetails {
    pub phone: Option<PhoneNumber>,
    pub legal_hold: bool,
    pub erased: bool,
    /// The customer this one was merged into.
    pub merged_into: Option<CustomerId>,
    pub bss_customer_id: Option<String>,
}

/// Contact details an agent changes; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub name: Option<Option<DisplayName>>,
    pub email: Option<Option<EmailAddress>>,
    pub phone: Option<Option<PhoneNumber>>,
    pub language: Option<Language>,
    pub consents: Vec<(ConsentKind, bool)>,
}

/// A customer found by search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tier: CustomerTier,
    pub bss_customer_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// What a merge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merged {
    pub handles: u64,
    pub conversations: u64,
    pub consents: u64,
    /// The merged customer was under legal hold, and now the one kept is.
    pub legal_hold_carried: bool,
    /// The merged customer's BSS link moved to the one kept.
    pub bss_link_moved: bool,
}

/// Why two customers cannot be merged (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("a customer cannot be merged with itself")]
    Same,
    #[error("an erased customer cannot be merged")]
    Erased,
    #[error("this customer was already merged into another")]
    AlreadyMerged,
    #[error("the two customers are linked to different customers of the billing system")]
    BssConflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MergeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

const HANDLE_COLUMNS: &str = "kind, value, verified, channel, handle, added_by, created_at";

fn handle_from_row(row: &AnyRow) -> Result<CustomerHandle> {
    Ok(CustomerHandle {
        kind: parse(row, "kind")?,
        value: row.try_get("value")?,
        verified: row.try_get::<i64, _>("verified")? != 0,
        channel: parse(row, "channel")?,
        handle: row.try_get("handle")?,
        added_by: parse_opt(row, "added_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

/// Stores a handle of `customer` inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_handle(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    customer: CustomerId,
    identity: &Identity,
    verified: bool,
    channel: Channel,
    handle: &str,
    added_by: Option<AgentId>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO customer_handles (kind, value, verified, customer_id, channel, handle, added_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(identity.kind.as_str())
    .bind(&identity.value)
    .bind(i64::from(verified))
    .bind(customer.to_string())
    .bind(channel.as_str())
    .bind(handle)
    .bind(added_by.map(|a| a.to_string()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores the handles a new customer is created with, verified (the caller vouches for them),
/// one per identity (a voice number and a WhatsApp sender of the same phone are one).
pub(super) async fn insert_new_handles(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    customer: CustomerId,
    handles: &[crate::domain::ContactHandle],
    now: i64,
) -> Result<()> {
    let mut seen = Vec::with_capacity(handles.len());
    for h in handles {
        let identity = Identity::of_arrival(h.channel, &h.handle);
        if seen.contains(&identity) {
            continue;
        }
        insert_handle(tx, customer, &identity, true, h.channel, &h.handle, None, now).await?;
        seen.push(identity);
    }
    Ok(())
}

/// The channel an agent's link is recorded as.
fn link_channel(kind: HandleKind, asked: &str) -> Channel {
    match (kind, asked) {
        (HandleKind::Phone, "whatsapp") => Channel::WhatsApp,
        (HandleKind::Phone | HandleKind::Sip, _) => Channel::Voice,
        (HandleKind::Email, _) => Channel::Email,
        (HandleKind::Messenger, _) => Channel::Messenger,
        (HandleKind::Telegram, _) => Channel::Telegram,
    }
}

/// `%…%` for `LIKE … ESCAPE '\'`, lower-cased.
fn contains_pattern(query: &str) -> String {
    format!("%{}%", like_escape(&query.to_lowercase()))
}

impl Store {
    /// The customer's handles, verified first, then by kind and value.
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_handles(&self, id: CustomerId) -> Result<Vec<CustomerHandle>> {
        sqlx::query(&format!(
            "SELECT {HANDLE_COLUMNS} FROM customer_handles WHERE customer_id = $1 ORDER BY verified DESC, kind, value"
        ))
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(handle_from_row)
        .collect()
    }

    /// What the profile shows beyond the customer's record: phone, privacy flags, merge, BSS link.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn customer_details(&self, id: CustomerId) -> Result<CustomerDetails> {
        let row = sqlx::query(
            "SELECT phone, legal_hold, erased_at, merged_into, bss_customer_id FROM customers WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound { what: "customer" })?;
        Ok(CustomerDetails {
            phone: parse_opt(&row, "phone")?,
            legal_hold: row.try_get::<i64, _>("legal_hold")? != 0,
            erased: row.try_get::<Option<i64>, _>("erased_at")?.is_some(),
            merged_into: parse_opt(&row, "merged_into")?,
            bss_customer_id: row.try_get("bss_customer_id")?,
        })
    }

    /// The customer's marketing consents that were ever set.
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_consents(&self, id: CustomerId) -> Result<Vec<Consent>> {
        sqlx::query(
            "SELECT kind, granted, changed_at, changed_by FROM customer_consents WHERE customer_id = $1 ORDER BY kind",
        )
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| {
            Ok(Consent {
                kind: parse(r, "kind")?,
                granted: r.try_get::<i64, _>("granted")? != 0,
                changed_at: from_ms(r.try_get("changed_at")?)?,
                changed_by: parse_opt(r, "changed_by")?,
            })
        })
        .collect()
    }

    /// Whether `agent` holds one of the customer's conversations that is not closed (what lets
    /// an agent who is not a supervisor change the customer).
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_assigned_to(&self, id: CustomerId, agent: AgentId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM conversations WHERE customer_id = $1 AND assignee_id = $2 AND status <> 'closed'",
        )
        .bind(id.to_string())
        .bind(agent.to_string())
        .fetch_one(&self.read)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Links a verified handle to the customer, as `agent` asserts it. Linking a handle the
    /// customer already holds verified changes nothing (returns it); an unverified one of
    /// theirs becomes verified.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (unknown, erased or merged customer), [`StoreError::Conflict`]
    /// when another customer holds the handle verified, or a database failure.
    pub async fn link_handle(
        &self,
        id: CustomerId,
        identity: &Identity,
        asked_channel: &str,
        agent: AgentId,
    ) -> Result<CustomerHandle> {
        let mut tx = self.write.begin().await?;
        self.live_customer(&mut tx, id).await?;
        let holder =
            sqlx::query("SELECT customer_id FROM customer_handles WHERE kind = $1 AND value = $2 AND verified = 1")
                .bind(identity.kind.as_str())
                .bind(&identity.value)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(h) = holder {
            let owner: String = h.try_get("customer_id")?;
            if owner != id.to_string() {
                return Err(StoreError::Conflict(
                    "another customer holds this handle: merge the two customers instead".into(),
                ));
            }
        } else {
            // An unverified handle of theirs with the same identity becomes the verified one.
            sqlx::query(
                "DELETE FROM customer_handles WHERE customer_id = $1 AND kind = $2 AND value = $3 AND verified = 0",
            )
            .bind(id.to_string())
            .bind(identity.kind.as_str())
            .bind(&identity.value)
            .execute(&mut *tx)
            .await?;
            let channel = link_channel(identity.kind, asked_channel);
            insert_handle(&mut tx, id, identity, true, channel, &identity.value, Some(agent), now_ms()).await?;
        }
        let row = sqlx::query(&format!(
            "SELECT {HANDLE_COLUMNS} FROM customer_handles WHERE kind = $1 AND value = $2 AND verified = 1"
        ))
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        handle_from_row(&row)
    }

    /// Unlinks the customer's handles of this identity (verified or not). Their conversations
    /// stay theirs; the next arrival from the handle makes (or finds) another customer. Returns
    /// how many were removed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (unknown customer, or no such handle of theirs), or a database
    /// failure.
    pub async fn unlink_handle(&self, id: CustomerId, identity: &Identity) -> Result<u64> {
        let done = sqlx::query("DELETE FROM customer_handles WHERE customer_id = $1 AND kind = $2 AND value = $3")
            .bind(id.to_string())
            .bind(identity.kind.as_str())
            .bind(&identity.value)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "handle" });
        }
        Ok(done.rows_affected())
    }

    /// Fails unless the customer exists, is not erased and was not merged (locking their row on
    /// PostgreSQL for the rest of the transaction).
    async fn live_customer(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: CustomerId) -> Result<AnyRow> {
        let lock = if self.backend == super::Backend::Postgres { " FOR UPDATE" } else { "" };
        let row = sqlx::query(&format!(
            "SELECT id, name, email, phone, legal_hold, erased_at, merged_into, bss_customer_id FROM customers \
             WHERE id = $1{lock}"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound { what: "customer" })?;
        if row.try_get::<Option<i64>, _>("erased_at")?.is_some()
            || row.try_get::<Option<String>, _>("merged_into")?.is_some()
        {
            return Err(StoreError::NotFound { what: "customer" });
        }
        Ok(row)
    }

    /// Merges the customer `from` into `into`, in one transaction: `from`'s handles,
    /// conversations (with their files, mail and calls, which hang off them) and consents (the
    /// newer of each kind) move to `into`; a legal hold on either holds `into`; `into` keeps
    /// its contact details and takes `from`'s where it has none; the BSS link that exists is
    /// kept. `from` is left empty, marked as merged into `into` (it cannot be merged again).
    ///
    /// # Errors
    /// [`MergeError`] (nothing changed), [`StoreError::NotFound`] inside it for an unknown one.
    pub async fn merge_customers(&self, into: CustomerId, from: CustomerId) -> Result<Merged, MergeError> {
        if into == from {
            return Err(MergeError::Same);
        }
        let mut tx = self.write.begin().await?;
        let lock = if self.backend == super::Backend::Postgres { " FOR UPDATE" } else { "" };
        let mut rows = Vec::with_capacity(2);
        // Locked in id order, so two merges of the same pair cannot deadlock.
        let mut ids = [into, from];
        ids.sort_by_key(ToString::to_string);
        for id in ids {
            let row = sqlx::query(&format!(
                "SELECT id, legal_hold, erased_at, merged_into, bss_customer_id FROM customers WHERE id = $1{lock}"
            ))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { what: "customer" })?;
            rows.push((id, row));
        }
        let get = |id: CustomerId| rows.iter().find(|(i, _)| *i == id).map(|(_, r)| r);
        let (Some(a), Some(b)) = (get(into), get(from)) else {
            return Err(StoreError::NotFound { what: "customer" }.into());
        };
        for r in [a, b] {
            if r.try_get::<Option<i64>, _>("erased_at")?.is_some() {
                return Err(MergeError::Erased);
            }
            if r.try_get::<Option<String>, _>("merged_into")?.is_some() {
                return Err(MergeError::AlreadyMerged);
            }
        }
        let (a_bss, b_bss): (Option<String>, Option<String>) =
            (a.try_get("bss_customer_id")?, b.try_get("bss_customer_id")?);
        if let (Some(x), Some(y)) = (&a_bss, &b_bss)
            && x != y
        {
            return Err(MergeError::BssConflict);
        }
        let a_hold = a.try_get::<i64, _>("legal_hold")? != 0;
        let b_hold = b.try_get::<i64, _>("legal_hold")? != 0;
        let (into_s, from_s) = (into.to_string(), from.to_string());

        let handles = sqlx::query("UPDATE customer_handles SET customer_id = $1 WHERE customer_id = $2")
            .bind(&into_s)
            .bind(&from_s)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let conversations = sqlx::query("UPDATE conversations SET customer_id = $1 WHERE customer_id = $2")
            .bind(&into_s)
            .bind(&from_s)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // The care workflows' requests follow the customer (the adjustments report and the export
        // read them by customer).
        sqlx::query("UPDATE care_requests SET customer_id = $1 WHERE customer_id = $2")
            .bind(&into_s)
            .bind(&from_s)
            .execute(&mut *tx)
            .await?;
        // Both churn scores are stale now: the next read computes the merged customer's.
        sqlx::query("DELETE FROM churn_scores WHERE customer_id IN ($1, $2)")
            .bind(&into_s)
            .bind(&from_s)
            .execute(&mut *tx)
            .await?;
        // Consents: the newer of each kind wins.
        sqlx::query(
            "DELETE FROM customer_consents WHERE customer_id = $1 AND kind IN (SELECT f.kind FROM customer_consents f \
             WHERE f.customer_id = $2 AND f.changed_at > customer_consents.changed_at)",
        )
        .bind(&into_s)
        .bind(&from_s)
        .execute(&mut *tx)
        .await?;
        let consents = sqlx::query(
            "UPDATE customer_consents SET customer_id = $1 WHERE customer_id = $2 \
             AND kind NOT IN (SELECT k.kind FROM customer_consents k WHERE k.customer_id = $1)",
        )
        .bind(&into_s)
        .bind(&from_s)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM customer_consents WHERE customer_id = $1").bind(&from_s).execute(&mut *tx).await?;
        // `from` is emptied first: the BSS link is unique.
        let details = sqlx::query("SELECT name, email, phone FROM customers WHERE id = $1")
            .bind(&from_s)
            .fetch_one(&mut *tx)
            .await?;
        let (name, email, phone): (Option<String>, Option<String>, Option<String>) =
            (details.try_get("name")?, details.try_get("email")?, details.try_get("phone")?);
        sqlx::query(
            "UPDATE customers SET name = NULL, email = NULL, phone = NULL, bss_customer_id = NULL, merged_into = $2 \
             WHERE id = $1",
        )
        .bind(&from_s)
        .bind(&into_s)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE customers SET name = COALESCE(name, $2), email = COALESCE(email, $3), phone = COALESCE(phone, $4), \
             bss_customer_id = COALESCE(bss_customer_id, $5), legal_hold = $6 WHERE id = $1",
        )
        .bind(&into_s)
        .bind(name)
        .bind(email)
        .bind(phone)
        .bind(b_bss.clone())
        .bind(i64::from(a_hold || b_hold))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Merged {
            handles,
            conversations,
            consents,
            legal_hold_carried: b_hold && !a_hold,
            bss_link_moved: a_bss.is_none() && b_bss.is_some(),
        })
    }

    /// Customers (not erased, not merged) whose name, e-mail address, phone or a handle contains
    /// `query` (case insensitive), by name then id; `after` is the id of the last one of the
    /// previous page. At most `limit`, plus one to tell whether there is more.
    ///
    /// # Errors
    /// A database failure.
    pub async fn search_customers(&self, query: &str, limit: u32, after: Option<&str>) -> Result<Vec<CustomerSummary>> {
        let pattern = contains_pattern(query);
        let mut sql = "SELECT id, name, email, phone, tier, bss_customer_id, created_at FROM customers u \
             WHERE u.erased_at IS NULL AND u.merged_into IS NULL AND (lower(u.name) LIKE $1 ESCAPE '\\' \
             OR lower(u.email) LIKE $1 ESCAPE '\\' OR u.phone LIKE $1 ESCAPE '\\' \
             OR u.id IN (SELECT customer_id FROM customer_handles WHERE value LIKE $1 ESCAPE '\\'))"
            .to_owned();
        if after.is_some() {
            sql.push_str(" AND u.id > $3");
        }
        sql.push_str(" ORDER BY u.id LIMIT $2");
        let mut q = sqlx::query(&sql).bind(pattern).bind(i64::from(limit) + 1);
        if let Some(a) = after {
            q = q.bind(a.to_owned());
        }
        q.fetch_all(&self.read).await?.iter().map(summary_from_row).collect()
    }

    /// The customers with these ids that are not erased or merged (for the BSS's answers to a
    /// search), in id order.
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_summary(&self, id: CustomerId) -> Result<Option<CustomerSummary>> {
        let row = sqlx::query(
            "SELECT id, name, email, phone, tier, bss_customer_id, created_at FROM customers \
             WHERE id = $1 AND erased_at IS NULL AND merged_into IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    /// Changes the customer's contact details and consents in one transaction, as `agent`.
    /// Setting an e-mail address or phone number also links it as a verified handle of theirs
    /// (the agent vouches for it), so that their next mail or call finds them.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (unknown, erased or merged customer), [`StoreError::Conflict`]
    /// (naming the field) when another customer holds the address or number, or a database
    /// failure. Nothing is written on error.
    pub async fn update_customer_profile(&self, id: CustomerId, change: &ProfileChange, agent: AgentId) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        self.live_customer(&mut tx, id).await?;
        let cid = id.to_string();
        if let Some(name) = &change.name {
            sqlx::query("UPDATE customers SET name = $2 WHERE id = $1")
                .bind(&cid)
                .bind(name.as_ref().map(|n| n.as_str().to_owned()))
                .execute(&mut *tx)
                .await?;
        }
        if let Some(language) = change.language {
            sqlx::query("UPDATE customers SET language = $2 WHERE id = $1")
                .bind(&cid)
                .bind(language.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let contact = [
            ("email", change.email.as_ref().map(|e| e.as_ref().map(|e| (HandleKind::Email, e.as_str().to_owned())))),
            ("phone", change.phone.as_ref().map(|p| p.as_ref().map(|p| (HandleKind::Phone, p.as_str().to_owned())))),
        ];
        for (field, value) in contact {
            let Some(value) = value else { continue };
            sqlx::query(&format!("UPDATE customers SET {field} = $2 WHERE id = $1"))
                .bind(&cid)
                .bind(value.as_ref().map(|(_, v)| v.clone()))
                .execute(&mut *tx)
                .await?;
            let Some((kind, value)) = value else { continue };
            let holder =
                sqlx::query("SELECT customer_id FROM customer_handles WHERE kind = $1 AND value = $2 AND verified = 1")
                    .bind(kind.as_str())
                    .bind(&value)
                    .fetch_optional(&mut *tx)
                    .await?;
            match holder {
                Some(h) if h.try_get::<String, _>("customer_id")? != cid => {
                    return Err(StoreError::Conflict(format!(
                        "{field}: another customer holds this {field}; merge the two customers instead"
                    )));
                }
                Some(_) => {}
                None => {
                    let identity = Identity { kind, value };
                    let channel = if kind == HandleKind::Email { Channel::Email } else { Channel::Voice };
                    sqlx::query(
                        "DELETE FROM customer_handles WHERE customer_id = $1 AND kind = $2 AND value = $3 AND verified = 0",
                    )
                    .bind(&cid)
                    .bind(kind.as_str())
                    .bind(&identity.value)
                    .execute(&mut *tx)
                    .await?;
                    insert_handle(&mut tx, id, &identity, true, channel, &identity.value, Some(agent), now).await?;
                }
            }
        }
        for (kind, granted) in &change.consents {
            sqlx::query(
                "INSERT INTO customer_consents (customer_id, kind, granted, changed_at, changed_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, kind) DO UPDATE SET granted = $3, \
                 changed_at = $4, changed_by = $5 WHERE customer_consents.granted <> $3",
            )
            .bind(&cid)
            .bind(kind.as_str())
            .bind(i64::from(*granted))
            .bind(now)
            .bind(agent.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn summary_from_row(row: &AnyRow) -> Result<CustomerSummary> {
    Ok(CustomerSummary {
        id: parse(row, "id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        tier: parse(row, "tier")?,
        bss_customer_id: row.try_get("bss_customer_id")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}
