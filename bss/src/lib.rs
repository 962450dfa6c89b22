//! The operator's business support systems (BSS) behind one trait, [`Bss`]: who a customer is
//! to billing, their accounts, products, bills and usage, the product catalogue, orders, bill
//! adjustments, payment arrangements and line tests.
//!
//! Two implementations sit behind it: an embedded one over the hub's store (demo data, laptops)
//! and a client of the TM Forum Open APIs operators expose (TMF629, TMF637, TMF678, TMF622,
//! TMF653). This crate knows nothing of conversations or of serving HTTP: the hub asks, the BSS
//! answers, and a slow or dead BSS is an [`BssError::Unavailable`], never a hang.

#[cfg(feature = "embedded")]
pub mod embedded;
mod model;
mod money;
pub mod resilient;
pub mod tmf;

pub use model::*;
pub use money::{Currency, Money, MoneyError};
pub use resilient::{BreakerState, Observer, Outcome, ResilienceConfig, Resilient};

use async_trait::async_trait;

/// What a BSS call can fail with. Every variant's text is safe to show staff: it carries no
/// credential and no customer data beyond the reference asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BssError {
    /// The billing system did not answer in time, could not be reached, answered 5xx, or the
    /// circuit breaker is open. The caller shows "billing system unavailable" and goes on.
    #[error("the billing system is unavailable: {0}")]
    Unavailable(String),
    /// No such record in the billing system.
    #[error("no {kind} {id} in the billing system")]
    NotFound { kind: &'static str, id: String },
    /// The billing system refused the request on its business rules (not eligible, bill
    /// closed, …): `code` is its own code, `message` its explanation.
    #[error("the billing system refused: {message}")]
    Rejected { code: String, message: String },
    /// The billing system answered something that is not what its API documents.
    #[error("the billing system's answer was malformed: {0}")]
    Malformed(String),
    /// The request was invalid before it was sent (a value out of range, a currency that is not
    /// the account's).
    #[error("{0}")]
    Invalid(String),
}

impl BssError {
    /// Whether trying again later may succeed (the resilience layer retries these, and counts
    /// them against the circuit breaker).
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// What every BSS call returns.
pub type Result<T, E = BssError> = std::result::Result<T, E>;

/// The operator's systems, as the hub needs them. Implementations must be cheap to call
/// concurrently; the hub wraps whichever is configured in its timeouts, retries, circuit breaker
/// and cache.
#[async_trait]
pub trait Bss: Send + Sync + std::fmt::Debug {
    /// A short name for logs and metrics (`embedded`, `tmf`).
    fn name(&self) -> &'static str;

    /// Customers matching `lookup` (TMF629 `GET /customer` with a filter), at most `limit`.
    async fn find_customers(&self, lookup: &Lookup, limit: u32) -> Result<Vec<BssCustomer>>;
    /// One customer (TMF629 `GET /customer/{id}`).
    async fn customer(&self, id: &CustomerRef) -> Result<BssCustomer>;
    /// The customer's billing accounts (TMF666), with balance and due date.
    async fn accounts(&self, customer: &CustomerRef) -> Result<Vec<BillingAccount>>;
    /// The customer's products, active or not (TMF637 `GET /product?relatedParty.id=`).
    async fn products(&self, customer: &CustomerRef) -> Result<Vec<Product>>;
    /// The account's bills, newest first, without their items (TMF678 `GET /customerBill`).
    async fn bills(&self, account: &AccountRef, limit: u32) -> Result<Vec<Bill>>;
    /// One bill with its items (TMF678 `GET /customerBill/{id}` and its applied rates).
    async fn bill(&self, id: &BillRef) -> Result<Bill>;
    /// This billing period's usage of a product against its allowances (TMF635).
    async fn usage(&self, product: &ProductRef) -> Result<Usage>;
    /// The offerings that can be ordered (TMF620).
    async fn catalogue(&self) -> Result<Vec<Offering>>;
    /// Whether `offering` can be provided to the customer at their address, and when it can be
    /// installed (TMF679).
    async fn eligibility(&self, customer: &CustomerRef, offering: &OfferingRef) -> Result<Eligibility>;
    /// The changes allowed to an active product (upgrades, downgrades, add-ons), each with its
    /// price difference and effective date.
    async fn changes(&self, product: &ProductRef) -> Result<Vec<ProductChange>>;
    /// The retention offers an agent may make to keep a product the customer wants to cancel.
    async fn retention_offers(&self, product: &ProductRef) -> Result<Vec<RetentionOffer>>;
    /// The customer's orders, newest first (TMF622 `GET /productOrder`).
    async fn orders(&self, customer: &CustomerRef, limit: u32) -> Result<Vec<Order>>;
    /// Places an order (TMF622 `POST /productOrder`). `order.external_id` makes it idempotent:
    /// placing the same external id twice returns the first order.
    async fn place_order(&self, order: &NewOrder) -> Result<Order>;
    /// Credits (or debits) a bill (TMF678). Idempotent by `external_id`.
    async fn adjust(&self, adjustment: &NewAdjustment) -> Result<Adjustment>;
    /// Agrees to pay an account's balance later (a promise to pay). Idempotent by `external_id`.
    async fn arrange_payment(&self, arrangement: &NewPaymentArrangement) -> Result<PaymentArrangement>;
    /// Runs a line test on a product's service and returns its result (TMF653).
    async fn run_service_test(&self, product: &ProductRef) -> Result<ServiceTest>;
}
