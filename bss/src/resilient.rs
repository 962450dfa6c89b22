//! [`Resilient`]: any [`Bss`] wrapped in what keeps a slow or dead billing system from holding
//! up the hub: a timeout per attempt, retries with jittered exponential backoff, a circuit
//! breaker, and a short-lived cache of reads, all inside one time budget per call.
//!
//! - **Budget.** Every call, retries included, ends within [`ResilienceConfig::budget`] (1.5 s by
//!   default): an attempt's timeout is cut to what is left of it, and no retry starts that could
//!   not finish. So "billing system unavailable" shows within 2 s whatever the BSS does.
//! - **Retries.** Only transient failures ([`BssError::is_transient`]: unreachable, 5xx, timed
//!   out) are retried, with full-jitter exponential backoff. Reads are safe to repeat. Writes
//!   (orders, adjustments, payment arrangements) are retried too, and only because each carries
//!   the hub's `external_id`, which makes the BSS apply it once however often it is sent (the
//!   trait's contract). Line tests are not retried.
//! - **Circuit breaker** (one per wrapped BSS): after [`ResilienceConfig::breaker_failures`]
//!   transient failures in a row it opens, and calls fail at once with
//!   [`BssError::Unavailable`]; after [`ResilienceConfig::breaker_open_for`] it lets one probe
//!   through (half-open): success closes it, failure opens it again. Answers such as "not found"
//!   or "rejected" are the BSS working, and count as successes.
//! - **Cache.** Successful reads are kept for [`ResilienceConfig::cache_ttl`] (seconds, not
//!   minutes: balances change), at most [`ResilienceConfig::cache_entries`] of them. A write
//!   drops the entries of the customer, account, bill and products it touches.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{
    AccountRef, Adjustment, Bill, BillRef, BillingAccount, Bss, BssCustomer, BssError, CustomerRef, Eligibility,
    Lookup, NewAdjustment, NewOrder, NewPaymentArrangement, Offering, OfferingRef, Order, PaymentArrangement, Product,
    ProductChange, ProductRef, Result, RetentionOffer, ServiceTest, Usage,
};

/// The knobs of [`Resilient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResilienceConfig {
    /// The longest one attempt may take.
    pub call_timeout: Duration,
    /// Attempts after the first, for transient failures.
    pub retries: u32,
    /// The first backoff (doubled each retry, jittered).
    pub backoff_base: Duration,
    /// The longest backoff.
    pub backoff_max: Duration,
    /// The longest a whole call may take, retries and backoffs included.
    pub budget: Duration,
    /// Transient failures in a row that open the breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before it lets a probe through.
    pub breaker_open_for: Duration,
    /// How long a read is kept (zero: no cache).
    pub cache_ttl: Duration,
    /// The most reads kept.
    pub cache_entries: usize,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_millis(600),
            retries: 2,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            budget: Duration::from_millis(1500),
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(10),
            cache_ttl: Duration::from_secs(15),
            cache_entries: 10_000,
        }
    }
}

/// How a call ended, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    /// Answered from the cache.
    Cached,
    NotFound,
    Rejected,
    Invalid,
    Malformed,
    /// Unreachable or 5xx (after retries).
    Unavailable,
    /// No answer within the timeout or the budget.
    Timeout,
    /// Refused at once: the breaker is open.
    BreakerOpen,
}

impl Outcome {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Cached => "cached",
            Self::NotFound => "not_found",
            Self::Rejected => "rejected",
            Self::Invalid => "invalid",
            Self::Malformed => "malformed",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::BreakerOpen => "breaker_open",
        }
    }

    fn of_error(e: &BssError) -> Self {
        match e {
            BssError::NotFound { .. } => Self::NotFound,
            BssError::Rejected { .. } => Self::Rejected,
            BssError::Invalid(_) => Self::Invalid,
            BssError::Malformed(_) => Self::Malformed,
            BssError::Unavailable(m) if m.starts_with(TIMEOUT_PREFIX) => Self::Timeout,
            BssError::Unavailable(m) if m == BREAKER_OPEN => Self::BreakerOpen,
            BssError::Unavailable(_) => Self::Unavailable,
        }
    }
}

/// The circuit breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// For a gauge: 0 closed, 1 half-open, 2 open.
    #[must_use]
    pub const fn as_number(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Receives what [`Resilient`] measures (the hub feeds its Prometheus metrics from it).
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// A call to `bss`'s `method` ended with `outcome` after `elapsed` (retries included).
    fn call(&self, bss: &'static str, method: &'static str, outcome: Outcome, elapsed: Duration);
    /// The breaker of `bss` moved to `state`.
    fn breaker(&self, bss: &'static str, state: BreakerState);
}

const TIMEOUT_PREFIX: &str = "no answer within";
const BREAKER_OPEN: &str = "too many failures in a row; not asking again for a few seconds";

#[derive(Debug)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Entry {
    expires: Instant,
    tags: Vec<String>,
    value: Arc<dyn Any + Send + Sync>,
}

/// A [`Bss`] behind timeouts, retries, a circuit breaker and a read cache (see the module doc).
#[derive(Debug)]
pub struct Resilient {
    inner: Arc<dyn Bss>,
    config: ResilienceConfig,
    breaker: Mutex<Breaker>,
    cache: Mutex<HashMap<String, Entry>>,
    observer: Option<Arc<dyn Observer>>,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

impl Resilient {
    #[must_use]
    pub fn new(inner: Arc<dyn Bss>, config: ResilienceConfig) -> Self {
        Self {
            inner,
            config,
            breaker: Mutex::new(Breaker::Closed { failures: 0 }),
            cache: Mutex::new(HashMap::new()),
            observer: None,
        }
    }

    /// Reports calls and breaker changes to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        observer.breaker(self.inner.name(), BreakerState::Closed);
        self.observer = Some(observer);
        self
    }

    /// The breaker's state now.
    #[must_use]
    pub fn breaker_state(&self) -> BreakerState {
        match &*self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            Breaker::Closed { .. } => BreakerState::Closed,
            Breaker::Open { until } if Instant::now() < *until => BreakerState::Open,
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Forgets every cached read.
    pub fn clear_cache(&self) {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    fn report_breaker(&self, state: BreakerState) {
        tracing::warn!(bss = self.inner.name(), state = ?state, "BSS circuit breaker");
        if let Some(o) = &self.observer {
            o.breaker(self.inner.name(), state);
        }
    }

    /// Whether a call may go to the BSS now (and, half-open, takes the one probe).
    fn admit(&self) -> bool {
        let mut b = self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*b {
            Breaker::Closed { .. } => true,
            Breaker::Open { until } if Instant::now() < *until => false,
            Breaker::Open { .. } => {
                *b = Breaker::HalfOpen { probing: true };
                drop(b);
                self.report_breaker(BreakerState::HalfOpen);
                true
            }
            Breaker::HalfOpen { probing: true } => false,
            Breaker::HalfOpen { probing: false } => {
                *b = Breaker::HalfOpen { probing: true };
                true
            }
        }
    }

    /// Records how an admitted attempt ended.
    fn settle(&self, transient_failure: bool) {
        let mut b = self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let change = match (&mut *b, transient_failure) {
            (Breaker::Closed { failures }, false) => {
                *failures = 0;
                None
            }
            (Breaker::Closed { failures }, true) => {
                *failures += 1;
                (*failures >= self.config.breaker_failures.max(1)).then_some(BreakerState::Open)
            }
            (Breaker::HalfOpen { .. }, false) => Some(BreakerState::Closed),
            (Breaker::HalfOpen { .. }, true) => Some(BreakerState::Open),
            // Opened meanwhile by another call.
            (Breaker::Open { .. }, _) => None,
        };
        match change {
            Some(BreakerState::Open) => *b = Breaker::Open { until: Instant::now() + self.config.breaker_open_for },
            Some(BreakerState::Closed) => *b = Breaker::Closed { failures: 0 },
            _ => {}
        }
        drop(b);
        if let Some(state) = change {
            self.report_breaker(state);
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self.config.backoff_base.saturating_mul(1u32 << retry.min(16)).min(self.config.backoff_max);
        // Full jitter: anywhere from half to all of it, so callers failing together spread out.
        let half = exp / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(if spread == 0 { 0 } else { rand::random::<u64>() % (spread + 1) })
    }

    /// Runs `attempt` under the breaker, the timeout and, when `retry`, the retry policy.
    async fn guarded<'a, T>(
        &'a self,
        method: &'static str,
        retry: bool,
        attempt: impl Fn() -> BoxFut<'a, T>,
    ) -> Result<T> {
        let started = Instant::now();
        let deadline = started + self.config.budget;
        let mut tries = 0u32;
        let result = loop {
            if !self.admit() {
                break Err(BssError::Unavailable(BREAKER_OPEN.to_owned()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = self.config.call_timeout.min(left);
            let outcome = match tokio::time::timeout(timeout, attempt()).await {
                Ok(r) => r,
                Err(_) => Err(BssError::Unavailable(format!("{TIMEOUT_PREFIX} {} ms", timeout.as_millis()))),
            };
            let transient = outcome.as_ref().err().is_some_and(BssError::is_transient);
            self.settle(transient);
            if !transient || !retry || tries >= self.config.retries {
                break outcome;
            }
            let pause = self.backoff(tries);
            // Retry only if the next attempt could still get a fair share of the budget.
            let left = deadline.saturating_duration_since(Instant::now());
            if left <= pause + self.config.call_timeout.min(Duration::from_millis(100)) {
                break outcome;
            }
            tries += 1;
            tracing::debug!(bss = self.inner.name(), method, retry = tries, "retrying a BSS call");
            tokio::time::sleep(pause).await;
        };
        let elapsed = started.elapsed();
        if let Some(o) = &self.observer {
            let outcome = result.as_ref().map_or_else(Outcome::of_error, |_| Outcome::Ok);
            o.call(self.inner.name(), method, outcome, elapsed);
        }
        if let Err(e) = &result
            && e.is_transient()
        {
            tracing::warn!(bss = self.inner.name(), method, error = %e, elapsed_ms = elapsed.as_millis(), "BSS call failed");
        }
        result
    }

    fn cached<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        if self.config.cache_ttl.is_zero() {
            return None;
        }
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cache.get(key)?;
        if entry.expires <= Instant::now() {
            cache.remove(key);
            return None;
        }
        entry.value.downcast_ref::<T>().cloned()
    }

    fn remember<T: Send + Sync + 'static>(&self, key: String, tags: Vec<String>, value: T) {
        if self.config.cache_ttl.is_zero() || self.config.cache_entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= self.config.cache_entries && !cache.contains_key(&key) {
            cache.retain(|_, e| e.expires > now);
            while cache.len() >= self.config.cache_entries {
                let Some(oldest) = cache.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| k.clone()) else { break };
                cache.remove(&oldest);
            }
        }
        cache.insert(key, Entry { expires: now + self.config.cache_ttl, tags, value: Arc::new(value) });
    }

    /// Drops every cached read tagged with one of `tags`.
    fn invalidate(&self, tags: &[String]) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|_, e| !e.tags.iter().any(|t| tags.contains(t)));
    }

    async fn read<'a, T: Clone + Send + Sync + 'static>(
        &'a self,
        method: &'static str,
        key: String,
        tags: impl FnOnce(&T) -> Vec<String>,
        attempt: impl Fn() -> BoxFut<'a, T>,
    ) -> Result<T> {
        if let Some(hit) = self.cached::<T>(&key) {
            if let Some(o) = &self.observer {
                o.call(self.inner.name(), method, Outcome::Cached, Duration::ZERO);
            }
            return Ok(hit);
        }
        let value = self.guarded(method, true, attempt).await?;
        self.remember(key, tags(&value), value.clone());
        Ok(value)
    }
}

fn tag(kind: &str, id: &str) -> String {
    format!("{kind}:{id}")
}

#[async_trait]
impl Bss for Resilient {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn find_customers(&self, lookup: &Lookup, limit: u32) -> Result<Vec<BssCustomer>> {
        self.guarded("find_customers", true, || self.inner.find_customers(lookup, limit)).await
    }

    async fn customer(&self, id: &CustomerRef) -> Result<BssCustomer> {
        let t = tag("c", id.as_str());
        self.read("customer", format!("customer {id}"), |_| vec![t], || self.inner.customer(id)).await
    }

    async fn accounts(&self, customer: &CustomerRef) -> Result<Vec<BillingAccount>> {
        let t = tag("c", customer.as_str());
        let tags =
            |v: &Vec<BillingAccount>| std::iter::once(t).chain(v.iter().map(|a| tag("a", a.id.as_str()))).collect();
        self.read("accounts", format!("accounts {customer}"), tags, || self.inner.accounts(customer)).await
    }

    async fn products(&self, customer: &CustomerRef) -> Result<Vec<Product>> {
        let t = tag("c", customer.as_str());
        let tags = |v: &Vec<Product>| std::iter::once(t).chain(v.iter().map(|p| tag("p", p.id.as_str()))).collect();
        self.read("products", format!("products {customer}"), tags, || self.inner.products(customer)).await
    }

    async fn bills(&self, account: &AccountRef, limit: u32) -> Result<Vec<Bill>> {
        let t = tag("a", account.as_str());
        let tags = |v: &Vec<Bill>| std::iter::once(t).chain(v.iter().map(|b| tag("b", b.id.as_str()))).collect();
        self.read("bills", format!("bills {account} {limit}"), tags, || self.inner.bills(account, limit)).await
    }

    async fn bill(&self, id: &BillRef) -> Result<Bill> {
        let tags = |b: &Bill| vec![tag("b", id.as_str()), tag("a", b.account.as_str())];
        self.read("bill", format!("bill {id}"), tags, || self.inner.bill(id)).await
    }

    async fn usage(&self, product: &ProductRef) -> Result<Usage> {
        let t = tag("p", product.as_str());
        self.read("usage", format!("usage {product}"), |_| vec![t], || self.inner.usage(product)).await
    }

    async fn catalogue(&self) -> Result<Vec<Offering>> {
        self.read("catalogue", "catalogue".to_owned(), |_| Vec::new(), || self.inner.catalogue()).await
    }

    async fn eligibility(&self, customer: &CustomerRef, offering: &OfferingRef) -> Result<Eligibility> {
        let t = tag("c", customer.as_str());
        self.read(
            "eligibility",
            format!("eligibility {customer} {offering}"),
            |_| vec![t],
            || self.inner.eligibility(customer, offering),
        )
        .await
    }

    async fn changes(&self, product: &ProductRef) -> Result<Vec<ProductChange>> {
        let t = tag("p", product.as_str());
        self.read("changes", format!("changes {product}"), |_| vec![t], || self.inner.changes(product)).await
    }

    async fn retention_offers(&self, product: &ProductRef) -> Result<Vec<RetentionOffer>> {
        let t = tag("p", product.as_str());
        self.read(
            "retention_offers",
            format!("retention {product}"),
            |_| vec![t],
            || self.inner.retention_offers(product),
        )
        .await
    }

    async fn orders(&self, customer: &CustomerRef, limit: u32) -> Result<Vec<Order>> {
        let t = tag("c", customer.as_str());
        self.read("orders", format!("orders {customer} {limit}"), |_| vec![t], || self.inner.orders(customer, limit))
            .await
    }

    /// Retried on transient failures: safe because the order's `external_id` makes the BSS
    /// place it once.
    async fn place_order(&self, order: &NewOrder) -> Result<Order> {
        let result = self.guarded("place_order", true, || self.inner.place_order(order)).await;
        let mut tags = vec![tag("c", order.customer.as_str()), tag("a", order.account.as_str())];
        tags.extend(order.items.iter().filter_map(|i| i.product.as_ref()).map(|p| tag("p", p.as_str())));
        self.invalidate(&tags);
        result
    }

    /// Retried on transient failures: safe because the adjustment's `external_id` makes the BSS
    /// apply it once.
    async fn adjust(&self, adjustment: &NewAdjustment) -> Result<Adjustment> {
        let result = self.guarded("adjust", true, || self.inner.adjust(adjustment)).await;
        self.invalidate(&[tag("a", adjustment.account.as_str()), tag("b", adjustment.bill.as_str())]);
        result
    }

    /// Retried on transient failures: safe because the arrangement's `external_id` makes the BSS
    /// record it once.
    async fn arrange_payment(&self, arrangement: &NewPaymentArrangement) -> Result<PaymentArrangement> {
        let result = self.guarded("arrange_payment", true, || self.inner.arrange_payment(arrangement)).await;
        self.invalidate(&[tag("a", arrangement.account.as_str())]);
        result
    }

    /// Not retried: a line test is an action on the network, asked for by a person who can ask
    /// again.
    async fn run_service_test(&self, product: &ProductRef) -> Result<ServiceTest> {
        self.guarded("run_service_test", false, || self.inner.run_service_test(product)).await
    }
}

#[cfg(test)]
mod tests;
