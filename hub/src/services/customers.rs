//! Customers, as staff work on them: one customer with many handles. The profile (contact
//! details, handles, consents, every conversation with its outcome, open tickets, and the BSS's
//! orders when linked, that section failing soft), search by name, phone, e-mail and account
//! number, linking and unlinking handles, merging two customers, editing contact details and
//! consents, and linking a customer to the billing system's.
//!
//! Who may change a customer: a supervisor (or admin) any; an agent a customer one of whose
//! open conversations they hold (`staff::may_act_on` with the customer's conversations: the
//! assignee or a supervisor, unheld work refused). A merge needs that on both customers.

use std::sync::Arc;
use std::time::Duration;

use bss::{AccountRef, Bss, BssError, CustomerRef, Lookup, Order};
use schema::{
    Agent, ConsentKind, CustomerId, CustomerSummary, DisplayName, EmailAddress, Identity, Language, MergeError, Merged,
    PhoneNumber, ProfileChange, Role, StoreError, ValidationError,
};

use super::Core;
use super::staff::{Unheld, may_act_on};
use crate::error::{Error, ErrorCode};

/// The shortest search.
pub const MIN_QUERY_CHARS: usize = 3;
/// The longest search.
pub const MAX_QUERY_CHARS: usize = 100;
/// Most customers on a page of search results.
pub const MAX_SEARCH_PAGE: u32 = 50;
/// How long the profile waits for the billing system before it says it is unavailable.
const BSS_WAIT: Duration = Duration::from_secs(2);
/// Orders shown on a profile.
const ORDERS_SHOWN: u32 = 10;
/// BSS customers looked up for one account number.
const BSS_MATCHES: u32 = 5;

/// A section read from the billing system: it fails soft.
#[derive(Clone, Debug)]
pub enum BssSection<T> {
    /// The customer is not linked to a BSS customer (or no BSS is configured).
    NotLinked,
    Ok(T),
    /// The billing system did not answer (in time): the rest of the page stands.
    Unavailable(String),
}

/// One page of a customer search.
#[derive(Clone, Debug)]
pub struct SearchPage {
    pub items: Vec<CustomerSummary>,
    /// The customers the billing system found by account number (first page only).
    pub by_account: Vec<CustomerSummary>,
    pub next_cursor: Option<String>,
    /// Whether the billing system was asked and could not answer.
    pub bss_unavailable: bool,
}

/// What an agent sends to change a profile; each field absent is left as it is, `null` clears
/// it (not `language`).
#[derive(Clone, Debug, Default)]
pub struct ProfilePatch {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub language: Option<String>,
    pub consents: Vec<(String, bool)>,
}

/// The customers service.
#[derive(Clone, Debug)]
pub struct Customers {
    core: Core,
    bss: Option<Arc<dyn Bss>>,
}

/// A BSS failure, by the one error table (`bss_*`); a malformed reference names the field.
fn bss_error(e: BssError) -> Error {
    match e {
        BssError::Invalid(m) => Error::invalid("bss_customer_id", m),
        other => other.into(),
    }
}

fn bss_timeout() -> Error {
    Error::Bss(BssError::Unavailable("the billing system did not answer in time".into()))
}

impl Customers {
    #[must_use]
    pub fn new(core: Core, bss: Option<Arc<dyn Bss>>) -> Self {
        Self { core, bss }
    }

    /// Whether `staff` may change the customer `id` (see the module docs).
    ///
    /// # Errors
    /// [`Error::Forbidden`]; 404 for an unknown customer; the store fails.
    pub async fn may_change(&self, staff: &Agent, id: CustomerId) -> Result<(), Error> {
        self.core.store.customer_details(id).await?;
        if staff.has_role(Role::Supervisor) {
            return Ok(());
        }
        let holds = self.core.store.customer_assigned_to(id, staff.id).await?;
        may_act_on(staff, holds.then_some(staff.id), Unheld::Refuse).map_err(|_| {
            Error::Forbidden(
                "only a supervisor or the agent holding one of the customer's conversations can change them".into(),
            )
        })
    }

    /// The billing system's orders of the customer, if they are linked; never fails.
    pub async fn orders(&self, bss_customer_id: Option<&str>) -> BssSection<Vec<Order>> {
        let (Some(bss), Some(id)) = (&self.bss, bss_customer_id) else { return BssSection::NotLinked };
        let Ok(customer) = CustomerRef::parse(id) else {
            return BssSection::Unavailable("the stored billing reference is malformed".into());
        };
        match tokio::time::timeout(BSS_WAIT, bss.orders(&customer, ORDERS_SHOWN)).await {
            Ok(Ok(orders)) => BssSection::Ok(orders),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "billing system orders unavailable for the profile");
                BssSection::Unavailable(e.to_string())
            }
            Err(_) => BssSection::Unavailable("the billing system did not answer in time".into()),
        }
    }

    /// Customers matching `query` (name, e-mail address, phone number, a handle), paged by
    /// `cursor`; on the first page also those the billing system finds by account number.
    ///
    /// # Errors
    /// 422 on `q` (shorter than [`MIN_QUERY_CHARS`] or longer than [`MAX_QUERY_CHARS`]) or
    /// `cursor`; the store fails.
    pub async fn search(&self, query: &str, limit: u32, cursor: Option<&str>) -> Result<SearchPage, Error> {
        let query = query.trim();
        let chars = query.chars().count();
        if !(MIN_QUERY_CHARS..=MAX_QUERY_CHARS).contains(&chars) {
            return Err(Error::invalid("q", format!("{MIN_QUERY_CHARS} to {MAX_QUERY_CHARS} characters")));
        }
        if let Some(c) = cursor
            && c.parse::<CustomerId>().is_err()
        {
            return Err(Error::invalid("cursor", "not a cursor from a previous page"));
        }
        // A phone number is searched as it is stored (E.164, no separators).
        let normalised = query.parse::<PhoneNumber>().map_or_else(|_| query.to_owned(), |p| p.as_str().to_owned());
        let limit = limit.clamp(1, MAX_SEARCH_PAGE);
        let mut items = self.core.store.search_customers(&normalised, limit, cursor).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|c| c.id.to_string())
        } else {
            None
        };
        let mut by_account = Vec::new();
        let mut bss_unavailable = false;
        if cursor.is_none()
            && let Some(bss) = &self.bss
            && query.bytes().any(|b| b.is_ascii_digit())
            && let Ok(account) = AccountRef::parse(query)
        {
            match tokio::time::timeout(BSS_WAIT, bss.find_customers(&Lookup::Account(account), BSS_MATCHES)).await {
                Ok(Ok(found)) => {
                    for c in found {
                        if let Some(id) = self.core.store.customer_by_bss_id(c.id.as_str()).await?
                            && let Some(summary) = self.core.store.customer_summary(id).await?
                        {
                            by_account.push(summary);
                        }
                    }
                }
                Ok(Err(BssError::NotFound { .. } | BssError::Invalid(_))) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "billing system search unavailable");
                    bss_unavailable = true;
                }
                Err(_) => bss_unavailable = true,
            }
        }
        Ok(SearchPage { items, by_account, next_cursor, bss_unavailable })
    }

    /// Links a handle to the customer as verified (the agent vouches for it).
    ///
    /// # Errors
    /// 422 on `channel` or `handle`; 403; 404; 409 `handle_taken` when another customer holds it.
    pub async fn link(
        &self,
        staff: &Agent,
        id: CustomerId,
        channel: &str,
        handle: &str,
    ) -> Result<schema::CustomerHandle, Error> {
        let identity = Identity::parse_link(channel, handle)?;
        self.may_change(staff, id).await?;
        self.core.store.link_handle(id, &identity, channel, staff.id).await.map_err(|e| match e {
            StoreError::Conflict(m) => Error::BadRequest { code: ErrorCode::HandleTaken, message: m },
            other => other.into(),
        })
    }

    /// Unlinks the customer's handle `channel`/`handle` (normalised as a link is).
    ///
    /// # Errors
    /// 422 on `channel` or `handle`; 403; 404 (customer or handle).
    pub async fn unlink(&self, staff: &Agent, id: CustomerId, channel: &str, handle: &str) -> Result<Identity, Error> {
        let identity = Identity::parse_link(channel, handle).or_else(|e| {
            // Handles that arrived but do not validate as a link (a SIP user, an odd platform id)
            // are unlinked by their exact value.
            match channel.parse::<schema::Channel>() {
                Ok(c) => Ok(Identity::of_arrival(c, handle)),
                Err(_) => Err(e),
            }
        })?;
        self.may_change(staff, id).await?;
        self.core.store.unlink_handle(id, &identity).await?;
        Ok(identity)
    }

    /// Merges `from` into `into` (see `Store::merge_customers`).
    ///
    /// # Errors
    /// 422 on `from` (the same customer); 403 unless `staff` may change both; 404; 409
    /// `merge_refused` (erased, already merged, different BSS customers).
    pub async fn merge(&self, staff: &Agent, into: CustomerId, from: CustomerId) -> Result<Merged, Error> {
        if into == from {
            return Err(Error::invalid("from", "a customer cannot be merged with itself"));
        }
        self.may_change(staff, into).await?;
        self.may_change(staff, from).await?;
        self.core.store.merge_customers(into, from).await.map_err(|e| match e {
            MergeError::Same => Error::invalid("from", "a customer cannot be merged with itself"),
            MergeError::Store(s) => s.into(),
            refused => Error::BadRequest { code: ErrorCode::MergeRefused, message: refused.to_string() },
        })
    }

    /// Changes contact details and consents: every field is validated first; nothing is
    /// written unless all are valid.
    ///
    /// # Errors
    /// 422 naming the first field that does not validate; 403; 404; 409 `handle_taken` when the
    /// e-mail address or phone number belongs to another customer.
    pub async fn update(&self, staff: &Agent, id: CustomerId, patch: ProfilePatch) -> Result<ProfileChange, Error> {
        let change = parse_patch(patch)?;
        self.may_change(staff, id).await?;
        self.core.store.update_customer_profile(id, &change, staff.id).await.map_err(|e| match e {
            StoreError::Conflict(m) => Error::BadRequest { code: ErrorCode::HandleTaken, message: m },
            other => other.into(),
        })?;
        Ok(change)
    }

    /// Links the customer to the billing system's customer `bss_id` (checked there first), or
    /// unlinks them (`None`).
    ///
    /// # Errors
    /// 422 on `bss_customer_id` (malformed); 404 `bss_not_found` (unknown to the BSS); 403; 404;
    /// 409 when that BSS customer is linked to another of ours; 503 `bss_unavailable`.
    pub async fn link_bss(&self, staff: &Agent, id: CustomerId, bss_id: Option<&str>) -> Result<(), Error> {
        self.may_change(staff, id).await?;
        if let Some(bss_id) = bss_id {
            let reference = CustomerRef::parse(bss_id).map_err(bss_error)?;
            let bss = self
                .bss
                .as_ref()
                .ok_or_else(|| Error::Bss(BssError::Unavailable("no billing system is configured".into())))?;
            match tokio::time::timeout(BSS_WAIT, bss.customer(&reference)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(bss_error(e)),
                Err(_) => return Err(bss_timeout()),
            }
        }
        Ok(self.core.store.set_customer_bss_id(id, bss_id).await?)
    }
}

/// Validates a patch in full (the first bad field is the error).
fn parse_patch(patch: ProfilePatch) -> Result<ProfileChange, Error> {
    fn opt<T: std::str::FromStr<Err = ValidationError>>(v: Option<Option<String>>) -> Result<Option<Option<T>>, Error> {
        Ok(match v {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) if s.trim().is_empty() => Some(None),
            Some(Some(s)) => Some(Some(s.parse::<T>()?)),
        })
    }
    if patch.consents.len() > ConsentKind::ALL.len() {
        return Err(Error::invalid("consents", "one entry per kind at most"));
    }
    let mut consents = Vec::with_capacity(patch.consents.len());
    for (kind, granted) in patch.consents {
        let kind: ConsentKind = kind
            .parse()
            .map_err(|_| Error::invalid("consents", "one of: marketing_email, marketing_sms, marketing_phone"))?;
        consents.push((kind, granted));
    }
    Ok(ProfileChange {
        name: opt::<DisplayName>(patch.name)?,
        email: opt::<EmailAddress>(patch.email)?,
        phone: opt::<PhoneNumber>(patch.phone)?,
        language: patch.language.map(|l| l.parse::<Language>()).transpose()?,
        consents,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_patch_is_validated_whole() {
        let bad = |p: ProfilePatch| parse_patch(p).unwrap_err().field().map(str::to_owned);
        assert_eq!(
            bad(ProfilePatch { email: Some(Some("nope".into())), ..Default::default() }).as_deref(),
            Some("email")
        );
        assert_eq!(
            bad(ProfilePatch { phone: Some(Some("600111222".into())), ..Default::default() }).as_deref(),
            Some("phone")
        );
        assert_eq!(
            bad(ProfilePatch { language: Some("fr".into()), ..Default::default() }).as_deref(),
            Some("language")
        );
        assert_eq!(
            bad(ProfilePatch { consents: vec![("fax".into(), true)], ..Default::default() }).as_deref(),
            Some("consents")
        );
        let ok = parse_patch(ProfilePatch {
            name: Some(None),
            phone: Some(Some("+34 600 111 222".into())),
            consents: vec![("marketing_sms".into(), true)],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.name, Some(None));
        assert_eq!(ok.phone.unwrap().unwrap().as_str(), "+34600111222");
        assert_eq!(ok.consents, vec![(ConsentKind::MarketingSms, true)]);
    }
}
