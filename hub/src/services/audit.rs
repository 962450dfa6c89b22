//! The audit trail's hub side: [`Audit::record`] appends who did what, to what, from where (and
//! the state before and after), one store write on the answer's path; auditors read, export and
//! verify the chain; a daily job prunes entries past their retention behind an anchor.
//!
//! Failure policy: an entry is written after the action it records succeeds and before the answer
//! goes out. A read (a customer's profile, the audit log itself) and a sign-in are refused (503)
//! when their entry cannot be written, so nothing is disclosed and no session is handed out
//! unrecorded (the new session is ended first). A write has already committed by then: its caller
//! gets 503 (not a success), and the entry that could not be stored is logged at error level with
//! every field, for the operators to reconcile.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use schema::{
    ActorKind, AgentId, AuditAction, AuditAnchor, AuditEntry, AuditFilter, AuditPosition, BrokenLink, ChainVerifier,
    NewAuditEntry, Store, StoreError, TargetKind,
};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::config::AuditConfig;
use crate::error::Error;
use crate::services::leader::Lease;
use crate::services::settings::Settings;

/// Entries read per store query while verifying or exporting.
pub const VERIFY_PAGE: u32 = 1000;
/// How often the prune job runs.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Longest text kept in an entry's details for a value a caller typed (a refused e-mail address).
const MAX_TYPED_CHARS: usize = 254;

/// Who acts, and from where: a signed-in staff member, the hub itself, or someone not signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub agent: Option<AgentId>,
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// A signed-in staff member.
    #[must_use]
    pub fn staff(agent: AgentId, ip: Option<IpAddr>) -> Self {
        Self { kind: ActorKind::Staff, agent: Some(agent), ip }
    }

    /// Someone not signed in (a refused sign-in).
    #[must_use]
    pub fn anonymous(ip: Option<IpAddr>) -> Self {
        Self { kind: ActorKind::Anonymous, agent: None, ip }
    }

    /// The hub itself (a scheduled job).
    #[must_use]
    pub fn system() -> Self {
        Self { kind: ActorKind::System, agent: None, ip: None }
    }
}

/// What happened, to build at the service boundary: the action, what it was done to, and the
/// state before and after where one applies.
#[derive(Clone, Debug)]
pub struct Event {
    action: AuditAction,
    target: Option<(TargetKind, String)>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    details: Option<serde_json::Value>,
}

impl Event {
    #[must_use]
    pub fn new(action: AuditAction) -> Self {
        Self { action, target: None, before: None, after: None, details: None }
    }

    /// What the action was done to.
    #[must_use]
    pub fn target(mut self, kind: TargetKind, id: impl ToString) -> Self {
        self.target = Some((kind, id.to_string()));
        self
    }

    /// The state before and after the change.
    #[must_use]
    pub fn change(mut self, before: &impl Serialize, after: &impl Serialize) -> Self {
        self.before = serde_json::to_value(before).ok();
        self.after = serde_json::to_value(after).ok();
        self
    }

    /// The state after (a creation).
    #[must_use]
    pub fn after(mut self, after: &impl Serialize) -> Self {
        self.after = serde_json::to_value(after).ok();
        self
    }

    /// Anything else worth keeping (never a secret).
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// A value a caller typed, cut to a length worth keeping.
#[must_use]
pub fn typed(value: &str) -> String {
    value.chars().take(MAX_TYPED_CHARS).collect()
}

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked.
    pub checked: u64,
    /// Where the chain starts (the last prune), if it was ever pruned.
    pub anchor: Option<AuditAnchor>,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
    /// Whether every entry was checked (`false`: stopped at the bound, no break so far).
    pub complete: bool,
}

/// Checks the stored chain from its anchor, [`VERIFY_PAGE`] entries at a time (bounded memory),
/// stopping at the first broken link or after `max` entries. The CLI and the API share it.
///
/// # Errors
/// The store fails.
pub async fn verify_store(store: &Store, max: Option<u64>) -> Result<Verification, StoreError> {
    let anchor = store.audit_anchor().await?;
    let mut verifier = ChainVerifier::new(anchor);
    // Every row is read, from the first: a row left below the anchor is a break too.
    let mut after = i64::MIN;
    loop {
        let page = store.audit_entries(&AuditFilter::default(), AuditPosition::OldestAfter(after), VERIFY_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(Verification { checked: verifier.checked(), anchor, broken: None, complete: true });
        };
        after = last.seq;
        let remaining =
            max.map_or(usize::MAX, |m| usize::try_from(m.saturating_sub(verifier.checked())).unwrap_or(usize::MAX));
        if remaining == 0 {
            return Ok(Verification { checked: verifier.checked(), anchor, broken: None, complete: false });
        }
        if let Err(broken) = verifier.feed(page.iter().take(remaining)) {
            return Ok(Verification { checked: verifier.checked(), anchor, broken: Some(broken), complete: true });
        }
        if remaining < page.len() {
            return Ok(Verification { checked: verifier.checked(), anchor, broken: None, complete: false });
        }
    }
}

/// The audit trail.
#[derive(Debug)]
pub struct Audit {
    store: Store,
    config: AuditConfig,
    /// The retention admins save at run time, which wins over `config.retention_days`.
    settings: Arc<Settings>,
}

impl Audit {
    #[must_use]
    pub fn new(store: Store, config: AuditConfig, settings: Arc<Settings>) -> Self {
        Self { store, config, settings }
    }

    /// Appends an entry. Fails with 503 when it cannot be stored (see the module's failure
    /// policy); the entry is then logged in full.
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn record(&self, actor: &Actor, event: Event) -> Result<(), Error> {
        let text = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
        let (target_kind, target_id) = event.target.map_or((None, None), |(k, id)| (Some(k), Some(id)));
        let entry = NewAuditEntry {
            actor_kind: actor.kind,
            actor_id: actor.agent,
            action: event.action,
            target_kind,
            target_id,
            source_ip: actor.ip,
            before: text(event.before),
            after: text(event.after),
            details: text(event.details),
        };
        match self.store.append_audit(entry.clone()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, ?entry, "cannot write an audit entry");
                Err(Error::Unavailable("the audit trail cannot be written; the action is not confirmed".into()))
            }
        }
    }

    /// A page of entries matching `filter`, newest first below seq `before`. Reading is audited.
    ///
    /// # Errors
    /// 503 when the store or the audit trail fails.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, Error> {
        self.record(actor, Event::new(AuditAction::AuditRead).details(filter_details(filter, before))).await?;
        Ok(self.store.audit_entries(filter, AuditPosition::NewestBefore(before), limit).await?)
    }

    /// Records that `actor` exports the entries matching `filter` (before the first byte goes out).
    ///
    /// # Errors
    /// 503 when the audit trail cannot be written.
    pub async fn start_export(&self, actor: &Actor, filter: &AuditFilter) -> Result<(), Error> {
        self.record(actor, Event::new(AuditAction::AuditExported).details(filter_details(filter, None))).await
    }

    /// The next page of an export, oldest first above seq `after`.
    ///
    /// # Errors
    /// The store fails.
    pub async fn export_page(&self, filter: &AuditFilter, after: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit_entries(filter, AuditPosition::OldestAfter(after), VERIFY_PAGE).await
    }

    /// Verifies the chain (at most `max` entries); the check itself is audited, after it ran.
    ///
    /// # Errors
    /// 503 when the store or the audit trail fails.
    pub async fn verify(&self, actor: &Actor, max: u64) -> Result<Verification, Error> {
        let v = verify_store(&self.store, Some(max)).await?;
        let details = serde_json::json!({
            "checked": v.checked,
            "complete": v.complete,
            "broken_seq": v.broken.as_ref().map(|b| b.seq),
        });
        self.record(actor, Event::new(AuditAction::AuditVerified).details(details)).await?;
        Ok(v)
    }

    /// The retention in force, in days: the one an admin saved, else the config file's.
    #[must_use]
    pub fn retention_days(&self) -> u32 {
        match self.settings.retention() {
            (r, Some(_)) => r.audit_days,
            (_, None) => self.config.retention_days,
        }
    }

    /// Deletes the entries older than `cutoff` behind an anchor, and records the prune (as the
    /// first entry after the anchor). Returns how many entries went.
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn prune_before(&self, cutoff: OffsetDateTime) -> Result<u64, Error> {
        let Some((anchor, pruned)) = self.store.prune_audit(cutoff).await? else { return Ok(0) };
        tracing::info!(anchor_seq = anchor.seq, pruned, "audit trail pruned");
        let details = serde_json::json!({"anchor_seq": anchor.seq, "anchor_hash": anchor.hash, "pruned": pruned});
        self.record(&Actor::system(), Event::new(AuditAction::AuditPruned).details(details)).await?;
        Ok(pruned)
    }

    /// Prunes by the retention in force once a day (the first time a minute after this node
    /// took the lease) on the node that holds the `jobs` lease, until shutdown. Two prunes at
    /// once (a node finishing one after losing the lease) are serialised by the chain's lock in
    /// the store; the second finds nothing older than its cutoff left to prune.
    pub async fn run_pruning(self: Arc<Self>, jobs: Lease) {
        jobs.run_while_held(|term| Arc::clone(&self).prune_daily(term.token)).await;
    }

    async fn prune_daily(self: Arc<Self>, shutdown: CancellationToken) {
        let mut wait = Duration::from_secs(60);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = PRUNE_EVERY;
            let cutoff = OffsetDateTime::now_utc() - time::Duration::days(i64::from(self.retention_days()));
            if let Err(e) = self.prune_before(cutoff).await {
                tracing::warn!(error = %e, "cannot prune the audit trail");
            }
        }
    }
}

fn filter_details(filter: &AuditFilter, before: Option<i64>) -> serde_json::Value {
    let rfc = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    serde_json::json!({
        "actor": filter.actor,
        "action": filter.action.map(AuditAction::as_str),
        "target_kind": filter.target_kind.map(TargetKind::as_str),
        "target_id": filter.target_id,
        "from": rfc(filter.from),
        "to": rfc(filter.to),
        "before": before,
    })
}
