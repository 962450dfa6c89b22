//! The audit trail's records and its hash chain: what an entry holds ([`AuditEntry`]), the closed
//! set of actions, and the pure functions that hash an entry and verify a run of entries. The hub
//! (which appends and serves entries) and the CLI (`switchboard audit verify`) share them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ValidationError;
use crate::ids::AgentId;

name_enum!(
    /// Who did it: a signed-in staff member, the hub itself (a scheduled job), or someone not
    /// signed in (a refused sign-in).
    ActorKind, "actor_kind" {
        Staff => "staff",
        System => "system",
        Anonymous => "anonymous",
    }
);

name_enum!(
    /// What was done: the closed set of audited actions.
    AuditAction, "action" {
        SignIn => "auth.sign_in",
        SignInFailed => "auth.sign_in_failed",
        SignOut => "auth.sign_out",
        SignInThrottled => "auth.sign_in_throttled",
        SecondFactorFailed => "auth.second_factor_failed",
        SignOutEverywhere => "auth.sign_out_everywhere",
        StepUp => "auth.step_up",
        StepUpFailed => "auth.step_up_failed",
        MfaEnrolled => "mfa.enrolled",
        MfaDisabled => "mfa.disabled",
        MfaRecoveryCodesRenewed => "mfa.recovery_codes_renewed",
        MfaReset => "mfa.reset",
        AccountCreated => "account.created",
        RolesChanged => "account.roles_changed",
        AccountDisabled => "account.disabled",
        AccountEnabled => "account.enabled",
        PasswordReset => "account.password_reset",
        SessionsEnded => "account.sessions_ended",
        RoutingProfileChanged => "account.routing_changed",
        SipIdentityChanged => "account.sip_changed",
        TeamChanged => "account.team_changed",
        PresenceChanged => "agent.presence_changed",
        CustomerRead => "customer.read",
        CustomerHistoryRead => "customer.history_read",
        CustomerBillingRead => "customer.billing_read",
        CustomerSearched => "customer.searched",
        CustomerLegalHold => "customer.legal_hold",
        CustomerExported => "customer.exported",
        CustomerErased => "customer.erased",
        CustomerUpdated => "customer.updated",
        CustomerHandleLinked => "customer.handle_linked",
        CustomerHandleUnlinked => "customer.handle_unlinked",
        CustomerMerged => "customer.merged",
        CustomerBssLinked => "customer.bss_linked",
        TicketHandedOver => "ticket.handed_over",
        TicketAccepted => "ticket.accepted",
        TicketRejected => "ticket.rejected",
        TicketResolved => "ticket.resolved",
        TicketPending => "ticket.pending",
        TicketTransferred => "ticket.transferred",
        TicketNoted => "ticket.noted",
        TicketTagged => "ticket.tagged",
        RulesPublished => "rules.published",
        RulesRestored => "rules.restored",
        KbCreated => "kb.created",
        KbPublished => "kb.published",
        KbUpdated => "kb.updated",
        KbArchived => "kb.archived",
        KbRestored => "kb.restored",
        KbImported => "kb.imported",
        IntentChanged => "intents.changed",
        CannedCreated => "canned.created",
        CannedUpdated => "canned.updated",
        CannedDeleted => "canned.deleted",
        SettingsChanged => "settings.changed",
        SocialAccountAdded => "channels.social_account_added",
        AuditRead => "audit.read",
        AuditExported => "audit.exported",
        AuditVerified => "audit.verified",
        AuditPruned => "audit.pruned",
        CareServiceOrdered => "care.service_ordered",
        CareServiceModified => "care.service_modified",
        CareServiceDiscontinued => "care.service_discontinued",
        CareServiceRetained => "care.service_retained",
        CareAdjustmentRequested => "care.adjustment_requested",
        CareAdjustmentApproved => "care.adjustment_approved",
        CareAdjustmentRejected => "care.adjustment_rejected",
        IncidentCreated => "incident.created",
        IncidentUpdated => "incident.updated",
        IncidentTicketsResolved => "incident.tickets_resolved",
        DiagnosticRun => "conversation.diagnostic_run",
    }
);

name_enum!(
    /// What kind of thing an entry is about.
    TargetKind, "target_kind" {
        Agent => "agent",
        Customer => "customer",
        Ticket => "ticket",
        Conversation => "conversation",
        Rules => "rules",
        Document => "document",
        Intent => "intent",
        Canned => "canned_response",
        Setting => "setting",
        SocialAccount => "social_account",
        Audit => "audit",
        CareRequest => "care_request",
        Incident => "incident",
    }
);

/// A SHA-256 hash of the chain, shown and stored as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash([u8; 32]);

impl ChainHash {
    /// What the first entry ever links to.
    pub const GENESIS: Self = Self([0; 32]);
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for ChainHash {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValidationError::Invalid { field: "hash", reason: "not 64 hex digits".into() };
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An entry to append: everything but its place in the chain (seq, time, hashes), which the store
/// assigns under its append lock.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEntry {
    pub actor_kind: ActorKind,
    pub actor_id: Option<AgentId>,
    pub action: AuditAction,
    pub target_kind: Option<TargetKind>,
    pub target_id: Option<String>,
    pub source_ip: Option<IpAddr>,
    /// JSON text of the state before the change, where one applies.
    pub before: Option<String>,
    /// JSON text of the state after the change.
    pub after: Option<String>,
    /// JSON text of anything else worth keeping (never a secret).
    pub details: Option<String>,
}

/// One stored entry of the audit trail.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub seq: i64,
    /// When it was appended (millisecond precision, as stored and hashed).
    pub at: OffsetDateTime,
    pub entry: NewAuditEntry,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// Where pruning cut the chain: the seq and hash of the last deleted entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: i64,
    pub hash: ChainHash,
}

/// Feeds one optional field into the hash: a presence tag, then the length and the bytes, so no
/// two different field lists encode alike.
fn field(h: &mut Sha256, value: Option<&[u8]>) {
    match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([1u8]);
            h.update((v.len() as u64).to_be_bytes());
            h.update(v);
        }
    }
}

/// The hash of an entry: SHA-256 over a canonical encoding of seq, time (ms), actor, action,
/// target, source address, before/after/details (as stored) and the previous entry's hash.
#[must_use]
pub fn entry_hash(seq: i64, at_ms: i64, entry: &NewAuditEntry, prev_hash: &ChainHash) -> ChainHash {
    let mut h = Sha256::new();
    h.update(b"switchboard-audit-v1");
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    let actor_id = entry.actor_id.map(|a| a.to_string());
    let ip = entry.source_ip.map(|ip| ip.to_string());
    field(&mut h, Some(entry.actor_kind.as_str().as_bytes()));
    field(&mut h, actor_id.as_deref().map(str::as_bytes));
    field(&mut h, Some(entry.action.as_str().as_bytes()));
    field(&mut h, entry.target_kind.map(|k| k.as_str().as_bytes()));
    field(&mut h, entry.target_id.as_deref().map(str::as_bytes));
    field(&mut h, ip.as_deref().map(str::as_bytes));
    field(&mut h, entry.before.as_deref().map(str::as_bytes));
    field(&mut h, entry.after.as_deref().map(str::as_bytes));
    field(&mut h, entry.details.as_deref().map(str::as_bytes));
    h.update(prev_hash.0);
    ChainHash(h.finalize().into())
}

/// Milliseconds since the epoch, as stored and hashed.
#[must_use]
pub fn at_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl AuditEntry {
    /// The hash this entry should carry, from its fields.
    #[must_use]
    pub fn computed_hash(&self) -> ChainHash {
        entry_hash(self.seq, at_ms(self.at), &self.entry, &self.prev_hash)
    }
}

/// Why the chain is broken at an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {found} follows entry {expected_after}: entries are missing or reordered")]
    Gap { expected_after: i64, found: i64 },
    #[error("its prev_hash does not match the hash of the entry before it")]
    PrevHashMismatch,
    #[error("its stored hash does not match its contents: the entry was altered")]
    HashMismatch,
}

/// The first broken link of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub why: ChainBreak,
}

/// Checks a chain in pieces (pages), in seq order, from a start point: the anchor where pruning
/// cut it, or the genesis.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: ChainHash,
    checked: u64,
}

impl ChainVerifier {
    /// Starts after `anchor`, or at the beginning of the chain.
    #[must_use]
    pub fn new(anchor: Option<AuditAnchor>) -> Self {
        let (last_seq, last_hash) = anchor.map_or((0, ChainHash::GENESIS), |a| (a.seq, a.hash));
        Self { last_seq, last_hash, checked: 0 }
    }

    /// Checks the next entries (in seq order), stopping at the first broken link.
    ///
    /// # Errors
    /// The first entry whose seq, link or hash is wrong.
    pub fn feed<'a>(&mut self, entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<(), BrokenLink> {
        for e in entries {
            let broken = |why| Err(BrokenLink { seq: e.seq, why });
            if e.seq != self.last_seq + 1 {
                return broken(ChainBreak::Gap { expected_after: self.last_seq, found: e.seq });
            }
            if e.prev_hash != self.last_hash {
                return broken(ChainBreak::PrevHashMismatch);
            }
            if e.computed_hash() != e.hash {
                return broken(ChainBreak::HashMismatch);
            }
            self.last_seq = e.seq;
            self.last_hash = e.hash;
            self.checked += 1;
        }
        Ok(())
    }

    /// Entries checked so far.
    #[must_use]
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The seq of the last entry checked (or of the start point).
    #[must_use]
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }
}

/// Verifies a whole run of entries from a start point: `Ok(count)` or the first broken link.
///
/// # Errors
/// The first entry whose seq, link or hash is wrong.
pub fn verify_chain(anchor: Option<AuditAnchor>, entries: &[AuditEntry]) -> Result<u64, BrokenLink> {
    let mut v = ChainVerifier::new(anchor);
    v.feed(entries)?;
    Ok(v.checked())
}

/// An entry placed in the chain at `seq` after `prev_hash`, with its hash.
#[must_use]
pub fn link(seq: i64, at: OffsetDateTime, entry: NewAuditEntry, prev_hash: ChainHash) -> AuditEntry {
    // Stored times have millisecond precision: hash what will be read back.
    let at_ms = at_ms(at);
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).unwrap_or(at);
    let hash = entry_hash(seq, at_ms, &entry, &prev_hash);
    AuditEntry { seq, at, entry, prev_hash, hash }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        for i in 0..n {
            let prev = out.last().map_or(ChainHash::GENESIS, |e| e.hash);
            let entry = NewAuditEntry {
                actor_kind: ActorKind::Staff,
                actor_id: Some(AgentId::new()),
                action: AuditAction::RolesChanged,
                target_kind: Some(TargetKind::Agent),
                target_id: Some(format!("target-{i}")),
                source_ip: Some("192.0.2.7".parse().unwrap()),
                before: Some(r#"{"roles":["agent"]}"#.into()),
                after: Some(r#"{"roles":["agent","supervisor"]}"#.into()),
                details: None,
            };
            out.push(link(i as i64 + 1, at + time::Duration::seconds(i as i64), entry, prev));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(None, &sample(5)), Ok(5));
        assert_eq!(verify_chain(None, &[]), Ok(0));
    }

    /// Every single-field change of any entry is detected, at that entry.
    #[test]
    fn any_single_field_change_is_detected_at_its_entry() {
        let chain = sample(4);
        type Edit = fn(&mut AuditEntry);
        let edits: &[(&str, Edit)] = &[
            ("seq", |e| e.seq += 10),
            ("at", |e| e.at += time::Duration::milliseconds(1)),
            ("actor_kind", |e| e.entry.actor_kind = ActorKind::System),
            ("actor_id", |e| e.entry.actor_id = None),
            ("actor_id other", |e| e.entry.actor_id = Some(AgentId::new())),
            ("action", |e| e.entry.action = AuditAction::SignIn),
            ("target_kind", |e| e.entry.target_kind = Some(TargetKind::Customer)),
            ("target_kind none", |e| e.entry.target_kind = None),
            ("target_id", |e| e.entry.target_id = Some("other".into())),
            ("source_ip", |e| e.entry.source_ip = Some("192.0.2.8".parse().unwrap())),
            ("source_ip none", |e| e.entry.source_ip = None),
            ("before", |e| e.entry.before = Some(r#"{"roles":["admin"]}"#.into())),
            ("after", |e| e.entry.after = None),
            ("details", |e| e.entry.details = Some("{}".into())),
            ("prev_hash", |e| e.prev_hash = ChainHash([7; 32])),
            ("hash", |e| e.hash = ChainHash([9; 32])),
        ];
        for at in 0..chain.len() {
            for (name, edit) in edits {
                let mut tampered = chain.clone();
                edit(&mut tampered[at]);
                let broken = verify_chain(None, &tampered).unwrap_err();
                assert_eq!(broken.seq, tampered[at].seq, "{name} at {at}: {broken:?}");
            }
        }
    }

    #[test]
    fn a_field_moved_between_neighbours_changes_the_hash() {
        // Length-prefixed fields: "ab" + "c" must not hash like "a" + "bc".
        let mut e = sample(1).remove(0);
        e.entry.target_id = Some("ab".into());
        e.entry.before = Some("c".into());
        let a = e.computed_hash();
        e.entry.target_id = Some("a".into());
        e.entry.before = Some("bc".into());
        assert_ne!(a, e.computed_hash());
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut chain = sample(3);
        chain[1].entry.details = Some(r#"{"forged":true}"#.into());
        chain[1].hash = chain[1].computed_hash();
        let broken = verify_chain(None, &chain).unwrap_err();
        assert_eq!((broken.seq, broken.why), (3, ChainBreak::PrevHashMismatch));
    }

    #[test]
    fn a_deleted_entry_is_a_gap_and_an_anchor_starts_the_chain_later() {
        let mut chain = sample(5);
        let pruned: Vec<_> = chain.drain(..2).collect();
        assert_eq!(verify_chain(None, &chain).unwrap_err().seq, 3);
        let anchor = AuditAnchor { seq: 2, hash: pruned[1].hash };
        assert_eq!(verify_chain(Some(anchor), &chain), Ok(3));
        chain.remove(1);
        let broken = verify_chain(Some(anchor), &chain).unwrap_err();
        assert_eq!((broken.seq, broken.why), (5, ChainBreak::Gap { expected_after: 3, found: 5 }));
    }

    #[test]
    fn hashes_round_trip_as_hex() {
        let h = sample(1)[0].hash;
        assert_eq!(h.to_string().parse::<ChainHash>().unwrap(), h);
        assert!("xyz".parse::<ChainHash>().is_err());
        assert!("g".repeat(64).parse::<ChainHash>().is_err());
        assert_eq!(ChainHash::GENESIS.to_string(), "0".repeat(64));
    }

    #[test]
    fn actions_parse_from_their_names() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), *a);
        }
        assert!("auth.root".parse::<AuditAction>().is_err());
    }
}
