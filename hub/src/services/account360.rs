//! The customer 360: what the operator's billing system knows of a hub customer (the linked BSS
//! customer, their billing accounts, products and each account's last bill), read through
//! `AppState.bss` (the resilient wrapper: timeouts, retries, breaker, cache).
//!
//! - **Concurrent, bounded, partial.** The overview asks for the customer, the products and the
//!   accounts at once, and each account's last bill as soon as the accounts are in; the whole
//!   answer is ready within [`OVERVIEW_DEADLINE`]. A section the BSS does not give in time (or at
//!   all) is listed in `unavailable` with its error code, the others are still answered: the
//!   panel shows "billing system unavailable" for that part, never an error page, and the
//!   conversation side (the hub's own profile) is always there.
//! - **No IDOR.** A bill, a bill list or a product's usage is answered only when it belongs to
//!   one of the accounts or products the BSS lists for this customer; anything else is the same
//!   404 as a record that does not exist.
//! - **Tier sync.** The BSS segment is the customer's tier: whenever the overview is loaded for a
//!   linked customer, the hub customer's tier is set from the segment ([`tier_for_segment`]), so
//!   tier routing rules fire on the tier billing knows. The demo seed sets it when it links.

use std::sync::Arc;
use std::time::Duration;

use bss::{
    AccountRef, Bill, BillRef, BillingAccount, Bss, BssCustomer, BssError, CustomerRef, Product, ProductRef, Usage,
};
use futures_util::future::join_all;
use schema::{Customer, CustomerId, CustomerTier, Store};
use serde::Serialize;
use tokio::time::{Instant, timeout_at};

use crate::error::{Error, Result};

/// The longest the overview takes, whatever the BSS does (under the 2 s the panel allows).
pub const OVERVIEW_DEADLINE: Duration = Duration::from_millis(1800);
/// The most bills one list answers.
pub const MAX_BILLS: u32 = 50;

/// The hub tier of a BSS segment: `platinum` and `vip` are VIP; `gold`, `premium` and
/// `business` are premium; anything else is standard.
#[must_use]
pub fn tier_for_segment(segment: &str) -> CustomerTier {
    match segment.trim().to_ascii_lowercase().as_str() {
        "platinum" | "vip" => CustomerTier::Vip,
        "gold" | "premium" | "business" => CustomerTier::Premium,
        _ => CustomerTier::Standard,
    }
}

/// A part of the overview.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Customer,
    Accounts,
    Products,
    Bills,
}

/// A section the billing system did not give, and why (`bss_unavailable`, `bss_not_found`,
/// `bss_malformed`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unavailable {
    pub section: Section,
    pub code: String,
}

/// A billing account with its last bill.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccountSummary {
    #[serde(flatten)]
    pub account: BillingAccount,
    /// Whether anything is past due (the account is in arrears).
    pub in_arrears: bool,
    /// The newest bill, without its items (`null`: none, or the bills are unavailable).
    pub last_bill: Option<Bill>,
}

/// The conversation side: the hub's own record of the customer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HubProfile {
    pub id: CustomerId,
    pub name: Option<String>,
    pub language: String,
    /// After the sync from the BSS segment.
    pub tier: CustomerTier,
}

/// The customer 360.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccountOverview {
    pub profile: HubProfile,
    /// Whether the customer is linked to a BSS customer; `false`: every other field is empty.
    pub linked: bool,
    pub bss_customer_id: Option<CustomerRef>,
    /// Segment, status, contacts and address as billing knows them.
    pub customer: Option<BssCustomer>,
    pub accounts: Option<Vec<AccountSummary>>,
    pub products: Option<Vec<Product>>,
    /// The sections the billing system did not give in time or at all ("billing system
    /// unavailable" in the panel); empty when everything is there.
    pub unavailable: Vec<Unavailable>,
}

/// Reads the customer 360 from the billing system.
#[derive(Clone, Debug)]
pub struct Account360 {
    store: Store,
    bss: Arc<dyn Bss>,
}

fn code(e: &BssError) -> String {
    Error::Bss(e.clone()).code().as_str().to_owned()
}

fn timed_out() -> BssError {
    BssError::Unavailable("the billing system did not answer in time".to_owned())
}

impl Account360 {
    #[must_use]
    pub fn new(store: Store, bss: Arc<dyn Bss>) -> Self {
        Self { store, bss }
    }

    /// The customer `id` (404 if unknown) and their BSS reference, if linked.
    async fn link(&self, id: CustomerId) -> Result<(Customer, Option<CustomerRef>)> {
        let customer = self.store.customer(id).await?;
        let reference = self
            .store
            .customer_bss_id(id)
            .await?
            .map(|r| CustomerRef::parse(&r))
            .transpose()
            .map_err(|e| Error::internal(format!("a stored BSS customer id does not parse: {e}")))?;
        Ok((customer, reference))
    }

    async fn linked(&self, id: CustomerId) -> Result<CustomerRef> {
        self.link(id).await?.1.ok_or(Error::NotFound("billing customer"))
    }

    /// The customer 360 of the hub customer `id` (see the module doc).
    ///
    /// # Errors
    /// An unknown customer, or the store fails; the billing system's failures are sections in
    /// `unavailable`, never an error.
    pub async fn overview(&self, id: CustomerId) -> Result<AccountOverview> {
        let deadline = Instant::now() + OVERVIEW_DEADLINE;
        let (hub, reference) = self.link(id).await?;
        let mut profile = HubProfile {
            id: hub.id,
            name: hub.name.as_ref().map(|n| n.as_str().to_owned()),
            language: hub.language.as_str().to_owned(),
            tier: hub.tier,
        };
        let Some(reference) = reference else {
            return Ok(AccountOverview {
                profile,
                linked: false,
                bss_customer_id: None,
                customer: None,
                accounts: None,
                products: None,
                unavailable: Vec::new(),
            });
        };
        let bss = &self.bss;
        let customer =
            async { timeout_at(deadline, bss.customer(&reference)).await.unwrap_or_else(|_| Err(timed_out())) };
        let products =
            async { timeout_at(deadline, bss.products(&reference)).await.unwrap_or_else(|_| Err(timed_out())) };
        let accounts = async {
            let accounts = timeout_at(deadline, bss.accounts(&reference)).await.unwrap_or_else(|_| Err(timed_out()))?;
            let bills = join_all(accounts.iter().map(|a| async {
                timeout_at(deadline, bss.bills(&a.id, 1)).await.unwrap_or_else(|_| Err(timed_out()))
            }))
            .await;
            Ok::<_, BssError>((accounts, bills))
        };
        let (customer, products, accounts) = tokio::join!(customer, products, accounts);

        let mut unavailable = Vec::new();
        let mut fail = |section: Section, e: &BssError| {
            tracing::warn!(customer = %id, section = ?section, error = %e, "a section of the customer 360 is unavailable");
            unavailable.push(Unavailable { section, code: code(e) });
        };
        let customer = match customer {
            Ok(c) => Some(c),
            Err(e) => {
                fail(Section::Customer, &e);
                None
            }
        };
        let products = match products {
            Ok(p) => Some(p),
            Err(e) => {
                fail(Section::Products, &e);
                None
            }
        };
        let accounts = match accounts {
            Ok((accounts, bills)) => {
                let mut bills_failed = None;
                let summaries = accounts
                    .into_iter()
                    .zip(bills)
                    .map(|(account, bills)| {
                        let last_bill = match bills {
                            Ok(mut b) => {
                                b.truncate(1);
                                b.pop()
                            }
                            Err(e) => {
                                bills_failed.get_or_insert(e);
                                None
                            }
                        };
                        AccountSummary { in_arrears: account.overdue.minor > 0, account, last_bill }
                    })
                    .collect();
                if let Some(e) = bills_failed {
                    fail(Section::Bills, &e);
                }
                Some(summaries)
            }
            Err(e) => {
                fail(Section::Accounts, &e);
                fail(Section::Bills, &e);
                None
            }
        };
        if let Some(c) = &customer {
            let tier = tier_for_segment(&c.segment);
            if tier != profile.tier {
                self.store.set_customer_tier(id, tier).await?;
                tracing::info!(customer = %id, from = %profile.tier.as_str(), to = %tier.as_str(), "tier set from the BSS segment");
                profile.tier = tier;
            }
        }
        Ok(AccountOverview {
            profile,
            linked: true,
            bss_customer_id: Some(reference),
            customer,
            accounts,
            products,
            unavailable,
        })
    }

    /// The customer's accounts (checked to be theirs) and the one `account` names, if any.
    async fn own_accounts(&self, reference: &CustomerRef) -> Result<Vec<BillingAccount>> {
        Ok(self.bss.accounts(reference).await?)
    }

    /// The bills of the customer `id`'s `account` (or of all their accounts), newest first, at
    /// most `limit`, without items.
    ///
    /// # Errors
    /// Not linked, or an account not theirs (404); the billing system fails (`bss_*`).
    pub async fn bills(&self, id: CustomerId, account: Option<&AccountRef>, limit: u32) -> Result<Vec<Bill>> {
        let reference = self.linked(id).await?;
        let accounts = self.own_accounts(&reference).await?;
        let limit = limit.clamp(1, MAX_BILLS);
        let chosen: Vec<&BillingAccount> = match account {
            Some(a) => vec![accounts.iter().find(|x| &x.id == a).ok_or(Error::NotFound("billing account"))?],
            None => accounts.iter().collect(),
        };
        let lists = join_all(chosen.iter().map(|a| self.bss.bills(&a.id, limit))).await;
        let mut bills = Vec::new();
        for list in lists {
            bills.extend(list?);
        }
        bills.sort_by(|a, b| b.issued.cmp(&a.issued).then_with(|| b.id.cmp(&a.id)));
        bills.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        for b in &mut bills {
            b.items.clear();
        }
        Ok(bills)
    }

    /// One bill of the customer `id`, with its items.
    ///
    /// # Errors
    /// Not linked, or a bill not on one of their accounts (404, as for no such bill); the
    /// billing system fails (`bss_*`).
    pub async fn bill(&self, id: CustomerId, bill: &BillRef) -> Result<Bill> {
        let reference = self.linked(id).await?;
        let (accounts, found) = tokio::join!(self.own_accounts(&reference), self.bss.bill(bill));
        let accounts = accounts?;
        let found = match found {
            Err(BssError::NotFound { .. }) => return Err(Error::NotFound("bill")),
            other => other?,
        };
        if !accounts.iter().any(|a| a.id == found.account) {
            return Err(Error::NotFound("bill"));
        }
        Ok(found)
    }

    /// This period's usage of the customer `id`'s `product`.
    ///
    /// # Errors
    /// Not linked, or a product not theirs (404); the billing system fails (`bss_*`).
    pub async fn usage(&self, id: CustomerId, product: &ProductRef) -> Result<Usage> {
        let reference = self.linked(id).await?;
        let products = self.bss.products(&reference).await?;
        if !products.iter().any(|p| &p.id == product) {
            return Err(Error::NotFound("product"));
        }
        Ok(self.bss.usage(product).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_map_to_tiers() {
        assert_eq!(tier_for_segment("Platinum"), CustomerTier::Vip);
        assert_eq!(tier_for_segment("gold"), CustomerTier::Premium);
        assert_eq!(tier_for_segment("business"), CustomerTier::Premium);
        assert_eq!(tier_for_segment("standard"), CustomerTier::Standard);
        assert_eq!(tier_for_segment(""), CustomerTier::Standard);
    }
}
