#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::{Currency, Money, OrderState};

/// How the fake answers.
#[derive(Clone, Debug)]
enum Mode {
    Ok,
    /// Unavailable (a 5xx).
    Down,
    /// Never answers in time.
    Slow(Duration),
    NotFound,
}

#[derive(Debug)]
struct Fake {
    mode: Mutex<Mode>,
    calls: AtomicU32,
}

impl Fake {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self { mode: Mutex::new(mode), calls: AtomicU32::new(0) })
    }
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
    async fn answer<T>(&self, ok: T) -> Result<T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = self.mode.lock().unwrap().clone();
        match mode {
            Mode::Ok => Ok(ok),
            Mode::Down => Err(BssError::Unavailable("503".into())),
            Mode::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(ok)
            }
            Mode::NotFound => Err(BssError::NotFound { kind: "customer", id: "x".into() }),
        }
    }
}

fn cref() -> CustomerRef {
    CustomerRef::parse("CUST-1").unwrap()
}

fn customer() -> BssCustomer {
    BssCustomer {
        id: cref(),
        name: "Test".into(),
        status: "active".into(),
        segment: "gold".into(),
        contacts: Vec::new(),
        address: None,
    }
}

fn account(balance: i64) -> BillingAccount {
    let eur = Currency::parse("EUR").unwrap();
    BillingAccount {
        id: AccountRef::parse("CUST-1-A1").unwrap(),
        name: "A".into(),
        kind: crate::PaymentKind::Postpaid,
        status: "active".into(),
        balance: Money::new(balance, eur),
        overdue: Money::new(0, eur),
        due_date: None,
    }
}

#[async_trait]
impl Bss for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn find_customers(&self, _: &Lookup, _: u32) -> Result<Vec<BssCustomer>> {
        self.answer(vec![customer()]).await
    }
    async fn customer(&self, _: &CustomerRef) -> Result<BssCustomer> {
        self.answer(customer()).await
    }
    async fn accounts(&self, _: &CustomerRef) -> Result<Vec<BillingAccount>> {
        self.answer(vec![account(1000)]).await
    }
    async fn products(&self, _: &CustomerRef) -> Result<Vec<Product>> {
        self.answer(Vec::new()).await
    }
    async fn bills(&self, _: &AccountRef, _: u32) -> Result<Vec<Bill>> {
        self.answer(Vec::new()).await
    }
    async fn bill(&self, id: &BillRef) -> Result<Bill> {
        Err(BssError::NotFound { kind: "bill", id: id.to_string() })
    }
    async fn usage(&self, p: &ProductRef) -> Result<Usage> {
        Err(BssError::NotFound { kind: "product", id: p.to_string() })
    }
    async fn catalogue(&self) -> Result<Vec<Offering>> {
        self.answer(Vec::new()).await
    }
    async fn eligibility(&self, _: &CustomerRef, o: &OfferingRef) -> Result<Eligibility> {
        self.answer(Eligibility { offering: o.clone(), eligible: true, reason: None, installation_dates: Vec::new() })
            .await
    }
    async fn changes(&self, _: &ProductRef) -> Result<Vec<ProductChange>> {
        self.answer(Vec::new()).await
    }
    async fn retention_offers(&self, _: &ProductRef) -> Result<Vec<RetentionOffer>> {
        self.answer(Vec::new()).await
    }
    async fn orders(&self, _: &CustomerRef, _: u32) -> Result<Vec<Order>> {
        self.answer(Vec::new()).await
    }
    async fn place_order(&self, o: &NewOrder) -> Result<Order> {
        self.answer(Order {
            id: crate::OrderRef::parse("O-1").unwrap(),
            state: OrderState::Completed,
            items: o.items.clone(),
            external_id: Some(o.external_id.clone()),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        })
        .await
    }
    async fn adjust(&self, a: &NewAdjustment) -> Result<Adjustment> {
        self.answer(Adjustment {
            id: crate::AdjustmentRef::parse("ADJ-1").unwrap(),
            bill: a.bill.clone(),
            item: None,
            amount: a.amount,
            reason: a.reason.clone(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        })
        .await
    }
    async fn arrange_payment(&self, _: &NewPaymentArrangement) -> Result<PaymentArrangement> {
        Err(BssError::Invalid("no".into()))
    }
    async fn run_service_test(&self, _: &ProductRef) -> Result<ServiceTest> {
        Err(BssError::Unavailable("test rig down".into()))
    }
}

#[derive(Debug, Default)]
struct Recorder {
    calls: Mutex<Vec<(&'static str, Outcome)>>,
    states: Mutex<Vec<BreakerState>>,
}

impl Observer for Recorder {
    fn call(&self, _: &'static str, method: &'static str, outcome: Outcome, _: Duration) {
        self.calls.lock().unwrap().push((method, outcome));
    }
    fn breaker(&self, _: &'static str, state: BreakerState) {
        self.states.lock().unwrap().push(state);
    }
}

fn no_cache() -> ResilienceConfig {
    ResilienceConfig { cache_ttl: Duration::ZERO, ..ResilienceConfig::default() }
}

#[tokio::test(start_paused = true)]
async fn a_slow_bss_times_out_within_the_budget() {
    let fake = Fake::new(Mode::Slow(Duration::from_secs(30)));
    let bss = Resilient::new(fake.clone(), no_cache());
    let started = Instant::now();
    let err = bss.customer(&cref()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, BssError::Unavailable(ref m) if m.starts_with(TIMEOUT_PREFIX)), "{err}");
    assert!(took <= ResilienceConfig::default().budget, "{took:?}");
    assert!(took < Duration::from_secs(2));
    // The first attempt and at least one retry, and no more than the retries allow.
    assert!((2..=3).contains(&fake.calls()), "{}", fake.calls());
}

#[tokio::test(start_paused = true)]
async fn the_budget_holds_whatever_the_configuration() {
    let fake = Fake::new(Mode::Slow(Duration::from_secs(30)));
    let config = ResilienceConfig {
        call_timeout: Duration::from_secs(5),
        retries: 10,
        budget: Duration::from_millis(1500),
        breaker_failures: 100,
        ..no_cache()
    };
    let bss = Resilient::new(fake, config);
    let started = Instant::now();
    assert!(bss.accounts(&cref()).await.is_err());
    assert!(started.elapsed() <= Duration::from_millis(1500), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff_then_succeed() {
    let fake = Fake::new(Mode::Down);
    let bss = Resilient::new(fake.clone(), no_cache());
    // Comes back while the hub waits between attempts.
    let f2 = fake.clone();
    let heal = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        f2.set(Mode::Ok);
    });
    let started = Instant::now();
    assert_eq!(bss.customer(&cref()).await.unwrap().id, cref());
    heal.await.unwrap();
    assert_eq!(fake.calls(), 2);
    // Waited a jittered backoff: between half and all of the base.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(25) && waited <= Duration::from_millis(50), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn answers_that_are_not_transient_are_neither_retried_nor_counted() {
    let fake = Fake::new(Mode::NotFound);
    let config = ResilienceConfig { breaker_failures: 2, ..no_cache() };
    let bss = Resilient::new(fake.clone(), config);
    for _ in 0..5 {
        assert!(matches!(bss.customer(&cref()).await, Err(BssError::NotFound { .. })));
    }
    assert_eq!(fake.calls(), 5);
    assert_eq!(bss.breaker_state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_fails_fast_half_opens_and_closes() {
    let fake = Fake::new(Mode::Down);
    let recorder = Arc::new(Recorder::default());
    let config =
        ResilienceConfig { retries: 0, breaker_failures: 3, breaker_open_for: Duration::from_secs(10), ..no_cache() };
    let bss = Resilient::new(fake.clone(), config).with_observer(recorder.clone());
    for _ in 0..3 {
        assert!(bss.customer(&cref()).await.is_err());
    }
    assert_eq!(bss.breaker_state(), BreakerState::Open);
    assert_eq!(fake.calls(), 3);
    // Open: refused without asking the BSS, at once.
    let started = Instant::now();
    let err = bss.customer(&cref()).await.unwrap_err();
    assert_eq!(err, BssError::Unavailable(BREAKER_OPEN.into()));
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(fake.calls(), 3);

    // After the open period one probe goes through; it fails: open again.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(bss.breaker_state(), BreakerState::HalfOpen);
    assert!(bss.customer(&cref()).await.is_err());
    assert_eq!(fake.calls(), 4);
    assert_eq!(bss.breaker_state(), BreakerState::Open);

    // Next probe succeeds: closed, and calls flow again.
    tokio::time::advance(Duration::from_secs(10)).await;
    fake.set(Mode::Ok);
    assert!(bss.customer(&cref()).await.is_ok());
    assert_eq!(bss.breaker_state(), BreakerState::Closed);
    assert!(bss.accounts(&cref()).await.is_ok());
    assert_eq!(fake.calls(), 6);

    let states = recorder.states.lock().unwrap().clone();
    assert_eq!(
        states,
        vec![
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
    let calls = recorder.calls.lock().unwrap().clone();
    assert!(calls.contains(&("customer", Outcome::BreakerOpen)));
    assert!(calls.contains(&("customer", Outcome::Unavailable)));
    assert!(calls.contains(&("accounts", Outcome::Ok)));
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_one_probe_through_at_a_time() {
    let fake = Fake::new(Mode::Down);
    let config = ResilienceConfig { retries: 0, breaker_failures: 1, ..no_cache() };
    let bss = Arc::new(Resilient::new(fake.clone(), config));
    assert!(bss.customer(&cref()).await.is_err());
    tokio::time::advance(Duration::from_secs(10)).await;
    fake.set(Mode::Slow(Duration::from_millis(100)));
    let probe = {
        let bss = Arc::clone(&bss);
        tokio::spawn(async move { bss.customer(&cref()).await })
    };
    tokio::task::yield_now().await;
    // While the probe is out, others are refused.
    assert_eq!(bss.accounts(&cref()).await.unwrap_err(), BssError::Unavailable(BREAKER_OPEN.into()));
    assert!(probe.await.unwrap().is_ok());
    assert_eq!(bss.breaker_state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn reads_are_cached_for_the_ttl_and_writes_invalidate_the_customer() {
    let fake = Fake::new(Mode::Ok);
    let config = ResilienceConfig { cache_ttl: Duration::from_secs(15), ..ResilienceConfig::default() };
    let bss = Resilient::new(fake.clone(), config);
    bss.accounts(&cref()).await.unwrap();
    bss.accounts(&cref()).await.unwrap();
    bss.customer(&cref()).await.unwrap();
    assert_eq!(fake.calls(), 2, "the second accounts read came from the cache");

    // An adjustment of the account drops what mentions it (the accounts list), not the rest.
    let eur = Currency::parse("EUR").unwrap();
    let adjustment = NewAdjustment {
        account: AccountRef::parse("CUST-1-A1").unwrap(),
        bill: BillRef::parse("B-1").unwrap(),
        item: None,
        amount: Money::new(100, eur),
        reason: "goodwill".into(),
        external_id: "x-1".into(),
        note: String::new(),
    };
    bss.adjust(&adjustment).await.unwrap();
    assert_eq!(fake.calls(), 3);
    bss.accounts(&cref()).await.unwrap();
    assert_eq!(fake.calls(), 4, "invalidated by the adjustment");
    bss.customer(&cref()).await.unwrap();
    assert_eq!(fake.calls(), 4, "the customer record was not touched");

    // An order drops everything of the customer.
    let order = NewOrder {
        customer: cref(),
        account: AccountRef::parse("CUST-1-A1").unwrap(),
        items: Vec::new(),
        external_id: "o-1".into(),
        note: String::new(),
    };
    bss.place_order(&order).await.unwrap();
    bss.customer(&cref()).await.unwrap();
    assert_eq!(fake.calls(), 6);

    // Past the TTL, asked again.
    tokio::time::advance(Duration::from_secs(16)).await;
    bss.customer(&cref()).await.unwrap();
    assert_eq!(fake.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn the_cache_is_bounded() {
    let fake = Fake::new(Mode::Ok);
    let config = ResilienceConfig { cache_entries: 3, ..ResilienceConfig::default() };
    let bss = Resilient::new(fake.clone(), config);
    for i in 0..10 {
        let o = OfferingRef::parse(&format!("o-{i}")).unwrap();
        bss.eligibility(&cref(), &o).await.unwrap();
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    assert!(bss.cache.lock().unwrap().len() <= 3);
    // The newest stays.
    bss.eligibility(&cref(), &OfferingRef::parse("o-9").unwrap()).await.unwrap();
    assert_eq!(fake.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn failures_are_not_cached_and_line_tests_are_not_retried() {
    let fake = Fake::new(Mode::Down);
    let bss = Resilient::new(fake.clone(), ResilienceConfig::default());
    assert!(bss.customer(&cref()).await.is_err());
    let after_failure = fake.calls();
    fake.set(Mode::Ok);
    assert!(bss.customer(&cref()).await.is_ok());
    assert_eq!(fake.calls(), after_failure + 1);
    let p = ProductRef::parse("P-1").unwrap();
    assert!(bss.run_service_test(&p).await.is_err());
}

#[test]
fn backoff_is_jittered_and_capped() {
    let fake = Fake::new(Mode::Ok);
    let bss = Resilient::new(fake, ResilienceConfig::default());
    for retry in 0..20 {
        let d = bss.backoff(retry);
        let full = Duration::from_millis(50).saturating_mul(1 << retry.min(16)).min(Duration::from_millis(200));
        assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
    }
}
