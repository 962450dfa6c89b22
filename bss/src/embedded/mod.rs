//! The embedded BSS: the operator's records kept in the hub's own store (`bss_records`,
//! migration 0019), so accounts, products, bills, orders and line tests work on a laptop with no
//! operator system behind. `serve --demo` seeds it ([`seed_demo`]); tests seed one customer with
//! [`Embedded::seed_customer`].
//!
//! Storage: each record is a JSON document of this crate's model in one table keyed by kind and
//! id, with the keys a TMF API looks records up by (customer, account, external id) as indexed
//! columns; all SQL is in `schema::Store` (`schema/src/store/bss.rs`). See that module for why
//! documents rather than a table per record.
//!
//! Rules it enforces, as an operator's BSS would:
//! - every write (order, adjustment, payment arrangement) is idempotent by its `external_id` (the
//!   same id again returns the first result, changing nothing) and atomic (one transaction);
//! - an order's `delete` terminates the product and its add-ons, `add` creates a pending product
//!   (an add-on attached to its base product), `modify` moves the product to another plan of its
//!   family;
//! - an adjustment is a line of kind `adjustment` on its bill, and lowers the bill's total and
//!   unpaid amount and the account's balance (and overdue amount, for an overdue bill);
//! - eligibility is by the customer's address postcode against the offering's coverage list
//!   (fibre and TV only in some postcodes), with installation on the next working days;
//! - a line test is deterministic per product: a product flagged faulty fails, an inactive one is
//!   inconclusive, any other passes.

mod seed;

pub use seed::{
    CustomerSeed, DEMO_COVERAGE, DemoCustomer, Profile, SeededCustomer, demo_customers, seed_catalogue, seed_demo,
};

use async_trait::async_trait;
use schema::{BssKind, BssRecord, BssTx, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Weekday};

use crate::{
    AccountRef, Adjustment, AdjustmentRef, Bill, BillItem, BillItemKind, BillRef, BillState, BillingAccount, Bss,
    BssCustomer, BssError, ChangeKind, CustomerRef, Eligibility, Lookup, Money, NewAdjustment, NewOrder,
    NewPaymentArrangement, Offering, OfferingKind, OfferingRef, Order, OrderAction, OrderRef, OrderState,
    PaymentArrangement, PaymentKind, Product, ProductChange, ProductFamily, ProductRef, ProductStatus, Result,
    RetentionOffer, ServiceTest, ServiceTestRef, TestMeasure, TestVerdict, Usage,
};

/// The most items one order may carry.
pub const MAX_ORDER_ITEMS: usize = 20;
/// The longest external id, note or reason accepted, in characters.
const MAX_EXTERNAL_ID: usize = 128;
const MAX_NOTE: usize = 2000;
const MAX_REASON: usize = 64;
/// How many working days of installation slots eligibility offers.
const INSTALLATION_SLOTS: usize = 5;
/// How far ahead a payment arrangement may promise to pay.
const MAX_ARRANGEMENT_DAYS: i64 = 90;

/// A product as stored: the model's record and the simulator's fault flag.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ProductDoc {
    pub product: Product,
    /// The line test simulator fails this product.
    #[serde(default)]
    pub faulty: bool,
}

/// An offering as stored: the model's record and where it can be provided.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OfferingDoc {
    pub offering: Offering,
    /// The postcodes it can be provided in; `None`: everywhere (mobile).
    pub coverage: Option<Vec<String>>,
}

/// Whether `id` names one of the retention offers [`Embedded`] makes for an active product
/// (`retention-25pct-6m`, `retention-50pct-3m`): a `modify` order to one keeps the product.
fn is_retention_offer(id: &OfferingRef) -> bool {
    matches!(id.as_str(), "retention-25pct-6m" | "retention-50pct-3m")
}

/// The BSS over the hub's store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Embedded {
    store: Store,
}

impl Embedded {
    #[must_use]
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store it keeps its records in.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

pub(crate) fn store_err(e: StoreError) -> BssError {
    match e {
        StoreError::Corrupt(m) => BssError::Malformed(m),
        StoreError::NotFound { what } => BssError::NotFound { kind: what, id: String::new() },
        other => BssError::Unavailable(format!("the embedded billing store failed: {other}")),
    }
}

fn decode<T: DeserializeOwned>(r: &BssRecord) -> Result<T> {
    serde_json::from_str(&r.body)
        .map_err(|e| BssError::Malformed(format!("stored {} {} does not decode: {e}", r.kind.as_str(), r.id)))
}

fn encode<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| BssError::Malformed(format!("cannot encode a record: {e}")))
}

fn not_found(kind: &'static str, id: impl std::fmt::Display) -> BssError {
    BssError::NotFound { kind, id: id.to_string() }
}

fn rejected(code: &str, message: impl Into<String>) -> BssError {
    BssError::Rejected { code: code.to_owned(), message: message.into() }
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}-{:012X}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF)
}

/// The lookup text of a customer: name, e-mail addresses and phone numbers, lower-case, one per
/// line, framed by line feeds.
fn customer_lookup(c: &BssCustomer) -> String {
    let mut out = String::from("\n");
    for v in std::iter::once(c.name.as_str()).chain(c.contacts.iter().map(|p| p.value.as_str())) {
        out.push_str(&v.to_lowercase().replace(['\n', '\r'], " "));
        out.push('\n');
    }
    out
}

pub(crate) fn customer_record(c: &BssCustomer) -> Result<BssRecord> {
    Ok(BssRecord {
        kind: BssKind::Customer,
        id: c.id.to_string(),
        customer_ref: Some(c.id.to_string()),
        account_ref: None,
        external_id: None,
        sort_key: String::new(),
        lookup: Some(customer_lookup(c)),
        body: encode(c)?,
    })
}

pub(crate) fn account_record(customer: &CustomerRef, a: &BillingAccount) -> Result<BssRecord> {
    Ok(BssRecord {
        kind: BssKind::Account,
        id: a.id.to_string(),
        customer_ref: Some(customer.to_string()),
        account_ref: Some(a.id.to_string()),
        external_id: None,
        sort_key: a.id.to_string(),
        lookup: None,
        body: encode(a)?,
    })
}

pub(crate) fn product_record(customer: &str, doc: &ProductDoc) -> Result<BssRecord> {
    let p = &doc.product;
    Ok(BssRecord {
        kind: BssKind::Product,
        id: p.id.to_string(),
        customer_ref: Some(customer.to_owned()),
        account_ref: Some(p.account.to_string()),
        external_id: None,
        // Base products before their add-ons, then by start.
        sort_key: format!("{}{}", if p.parent.is_some() { 0 } else { 1 }, p.start_date.map(iso).unwrap_or_default()),
        lookup: None,
        body: encode(doc)?,
    })
}

pub(crate) fn bill_record(customer: &str, b: &Bill) -> Result<BssRecord> {
    Ok(BssRecord {
        kind: BssKind::Bill,
        id: b.id.to_string(),
        customer_ref: Some(customer.to_owned()),
        account_ref: Some(b.account.to_string()),
        external_id: None,
        sort_key: format!("{} {}", iso(b.issued), b.number),
        lookup: None,
        body: encode(b)?,
    })
}

pub(crate) fn usage_record(customer: &str, account: &AccountRef, u: &Usage) -> Result<BssRecord> {
    Ok(BssRecord {
        kind: BssKind::Usage,
        id: u.product.to_string(),
        customer_ref: Some(customer.to_owned()),
        account_ref: Some(account.to_string()),
        external_id: None,
        sort_key: iso(u.period_start),
        lookup: None,
        body: encode(u)?,
    })
}

pub(crate) fn offering_record(doc: &OfferingDoc) -> Result<BssRecord> {
    Ok(BssRecord {
        kind: BssKind::Offering,
        id: doc.offering.id.to_string(),
        customer_ref: None,
        account_ref: None,
        external_id: None,
        sort_key: String::new(),
        lookup: None,
        body: encode(doc)?,
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Finds `id` of `kind` in a transaction (locking it), decoded.
async fn locked<T: DeserializeOwned>(tx: &mut BssTx, kind: BssKind, id: &str, what: &'static str) -> Result<T> {
    let record = tx.lock(kind, id).await.map_err(store_err)?.ok_or_else(|| not_found(what, id))?;
    decode(&record)
}

fn check_external_id(id: &str) -> Result<()> {
    if id.trim().is_empty() || id.chars().count() > MAX_EXTERNAL_ID || id.chars().any(char::is_control) {
        return Err(BssError::Invalid(format!("an external id is 1 to {MAX_EXTERNAL_ID} printable characters")));
    }
    Ok(())
}

fn check_text(what: &str, text: &str, max: usize, required: bool) -> Result<()> {
    let n = text.chars().count();
    if (required && text.trim().is_empty()) || n > max || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(BssError::Invalid(format!("{what} is {} to {max} printable characters", u8::from(required))));
    }
    Ok(())
}

/// The next `n` working days (Monday to Friday) after `from`, starting the day after tomorrow (a
/// technician needs a day's notice).
#[must_use]
pub fn working_days_after(from: Date, n: usize) -> Vec<Date> {
    let mut out = Vec::with_capacity(n);
    let mut d = from.saturating_add(Duration::days(1));
    while out.len() < n {
        d = d.saturating_add(Duration::days(1));
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            out.push(d);
        }
        if d == Date::MAX {
            break;
        }
    }
    out
}

/// The first day of the month after `d`.
fn next_month_start(d: Date) -> Date {
    let (y, m) = if d.month() == time::Month::December {
        (d.year() + 1, time::Month::January)
    } else {
        (d.year(), d.month().next())
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(d)
}

impl Embedded {
    async fn get<T: DeserializeOwned>(&self, kind: BssKind, id: &str, what: &'static str) -> Result<T> {
        let record = self.store.bss_record(kind, id).await.map_err(store_err)?.ok_or_else(|| not_found(what, id))?;
        decode(&record)
    }

    async fn product_doc(&self, id: &ProductRef) -> Result<(String, ProductDoc)> {
        let record = self
            .store
            .bss_record(BssKind::Product, id.as_str())
            .await
            .map_err(store_err)?
            .ok_or_else(|| not_found("product", id))?;
        Ok((record.customer_ref.clone().unwrap_or_default(), decode(&record)?))
    }

    async fn offering_docs(&self) -> Result<Vec<OfferingDoc>> {
        self.store.bss_records_of_kind(BssKind::Offering).await.map_err(store_err)?.iter().map(decode).collect()
    }

    async fn require_customer(&self, id: &CustomerRef) -> Result<BssCustomer> {
        self.get(BssKind::Customer, id.as_str(), "customer").await
    }

    fn eligibility_of(customer: &BssCustomer, doc: &OfferingDoc, from: Date) -> Eligibility {
        let offering = &doc.offering;
        let postcode = customer.address.as_ref().map(|a| a.postcode.trim());
        let (eligible, reason) = match (&doc.coverage, postcode) {
            (None, _) => (true, None),
            (Some(_), None) => (false, Some("the customer has no address on file".to_owned())),
            (Some(list), Some(pc)) if list.iter().any(|c| c == pc) => (true, None),
            (Some(_), Some(pc)) => (false, Some(format!("{} is not available at postcode {pc}", offering.name))),
        };
        let installation_dates = if eligible && offering.requires_installation {
            working_days_after(from, INSTALLATION_SLOTS)
        } else {
            Vec::new()
        };
        Eligibility { offering: offering.id.clone(), eligible, reason, installation_dates }
    }

    /// Writes the whole of `order` in `tx` (not committed).
    async fn apply_order(&self, tx: &mut BssTx, order: &NewOrder, created_at: OffsetDateTime) -> Result<Order> {
        let customer: BssCustomer = locked(tx, BssKind::Customer, order.customer.as_str(), "customer").await?;
        let account_rec = tx
            .lock(BssKind::Account, order.account.as_str())
            .await
            .map_err(store_err)?
            .ok_or_else(|| not_found("account", &order.account))?;
        if account_rec.customer_ref.as_deref() != Some(order.customer.as_str()) {
            return Err(not_found("account", &order.account));
        }
        let account: BillingAccount = decode(&account_rec)?;
        let offerings = self.offering_docs().await?;
        let offering = |id: &OfferingRef| -> Result<&OfferingDoc> {
            offerings.iter().find(|o| &o.offering.id == id).ok_or_else(|| not_found("offering", id))
        };
        let today = created_at.date();
        let mut any_add = false;
        for item in &order.items {
            match item.action {
                OrderAction::Add => {
                    any_add = true;
                    let id =
                        item.offering.as_ref().ok_or_else(|| BssError::Invalid("an add names its offering".into()))?;
                    let doc = offering(id)?;
                    let o = &doc.offering;
                    if o.recurring_price.currency != account.balance.currency {
                        return Err(rejected(
                            "currency",
                            format!("{} is not sold in {}", o.name, account.balance.currency),
                        ));
                    }
                    let parent = match o.kind {
                        OfferingKind::AddOn => {
                            let base = item.product.as_ref().ok_or_else(|| {
                                BssError::Invalid("an add-on names the product it attaches to".into())
                            })?;
                            let base_rec = tx
                                .lock(BssKind::Product, base.as_str())
                                .await
                                .map_err(store_err)?
                                .ok_or_else(|| not_found("product", base))?;
                            if base_rec.customer_ref.as_deref() != Some(order.customer.as_str()) {
                                return Err(not_found("product", base));
                            }
                            let base_doc: ProductDoc = decode(&base_rec)?;
                            if base_doc.product.status != ProductStatus::Active
                                || base_doc.product.family != o.family
                                || base_doc.product.parent.is_some()
                            {
                                return Err(rejected(
                                    "not_allowed",
                                    format!("{} cannot be added to {}", o.name, base_doc.product.name),
                                ));
                            }
                            Some(base.clone())
                        }
                        OfferingKind::Plan => None,
                    };
                    let eligibility = Self::eligibility_of(&customer, doc, today);
                    if !eligibility.eligible {
                        return Err(rejected("not_eligible", eligibility.reason.unwrap_or_default()));
                    }
                    if o.requires_installation {
                        let date = item
                            .requested_date
                            .ok_or_else(|| BssError::Invalid(format!("{} needs an installation date", o.name)))?;
                        let latest = today.saturating_add(Duration::days(60));
                        if date <= today.saturating_add(Duration::days(1))
                            || date > latest
                            || matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
                        {
                            return Err(rejected(
                                "installation_date",
                                "the installation date is not a working day in the next 60 days (from the day after tomorrow)",
                            ));
                        }
                    }
                    let product = Product {
                        id: ProductRef::parse(&random_id("PRD"))?,
                        account: order.account.clone(),
                        offering: o.id.clone(),
                        name: o.name.clone(),
                        family: o.family,
                        status: ProductStatus::Pending,
                        identifier: None,
                        start_date: Some(item.requested_date.unwrap_or(today)),
                        recurring_price: Some(o.recurring_price),
                        commitment_end: (o.commitment_months > 0)
                            .then(|| today.saturating_add(Duration::days(30 * i64::from(o.commitment_months)))),
                        early_termination_fee: None,
                        parent,
                    };
                    tx.put(&product_record(order.customer.as_str(), &ProductDoc { product, faulty: false })?)
                        .await
                        .map_err(store_err)?;
                }
                OrderAction::Modify | OrderAction::Delete => {
                    let id = item
                        .product
                        .as_ref()
                        .ok_or_else(|| BssError::Invalid("a modify or delete names its product".into()))?;
                    let rec = tx
                        .lock(BssKind::Product, id.as_str())
                        .await
                        .map_err(store_err)?
                        .ok_or_else(|| not_found("product", id))?;
                    if rec.customer_ref.as_deref() != Some(order.customer.as_str()) {
                        return Err(not_found("product", id));
                    }
                    let mut doc: ProductDoc = decode(&rec)?;
                    if item.action == OrderAction::Delete {
                        if doc.product.status == ProductStatus::Terminated {
                            return Err(rejected("terminated", format!("{} is already terminated", doc.product.name)));
                        }
                        doc.product.status = ProductStatus::Terminated;
                        tx.put(&product_record(order.customer.as_str(), &doc)?).await.map_err(store_err)?;
                        // Its add-ons go with it.
                        for addon in
                            tx.of_customer(BssKind::Product, order.customer.as_str()).await.map_err(store_err)?
                        {
                            let mut a: ProductDoc = decode(&addon)?;
                            if a.product.parent.as_ref() == Some(id) && a.product.status != ProductStatus::Terminated {
                                a.product.status = ProductStatus::Terminated;
                                tx.put(&product_record(order.customer.as_str(), &a)?).await.map_err(store_err)?;
                            }
                        }
                    } else {
                        let to = item
                            .offering
                            .as_ref()
                            .ok_or_else(|| BssError::Invalid("a modify names the plan moved to".into()))?;
                        // A retention offer the customer accepted (the care workflow's discontinue
                        // form): the product stays on its plan with the discount the order records.
                        if is_retention_offer(to) {
                            if doc.product.status != ProductStatus::Active || doc.product.recurring_price.is_none() {
                                return Err(rejected("not_active", format!("{} is not active", doc.product.name)));
                            }
                            continue;
                        }
                        let o = &offering(to)?.offering;
                        if doc.product.status != ProductStatus::Active {
                            return Err(rejected("not_active", format!("{} is not active", doc.product.name)));
                        }
                        if o.kind != OfferingKind::Plan
                            || o.family != doc.product.family
                            || o.id == doc.product.offering
                            || doc.product.parent.is_some()
                        {
                            return Err(rejected(
                                "not_allowed",
                                format!("{} cannot move to {}", doc.product.name, o.name),
                            ));
                        }
                        doc.product.offering = o.id.clone();
                        doc.product.name = o.name.clone();
                        doc.product.recurring_price = Some(o.recurring_price);
                        tx.put(&product_record(order.customer.as_str(), &doc)?).await.map_err(store_err)?;
                    }
                }
            }
        }
        let placed = Order {
            id: OrderRef::parse(&random_id("ORD"))?,
            state: if any_add { OrderState::InProgress } else { OrderState::Completed },
            items: order.items.clone(),
            external_id: Some(order.external_id.clone()),
            created_at,
        };
        tx.put(&BssRecord {
            kind: BssKind::Order,
            id: placed.id.to_string(),
            customer_ref: Some(order.customer.to_string()),
            account_ref: Some(order.account.to_string()),
            external_id: Some(order.external_id.clone()),
            sort_key: rfc3339(created_at),
            lookup: None,
            body: encode(&placed)?,
        })
        .await
        .map_err(store_err)?;
        Ok(placed)
    }

    /// Writes the whole of `adj` in `tx` (not committed).
    async fn apply_adjustment(tx: &mut BssTx, adj: &NewAdjustment, created_at: OffsetDateTime) -> Result<Adjustment> {
        let account_rec = tx
            .lock(BssKind::Account, adj.account.as_str())
            .await
            .map_err(store_err)?
            .ok_or_else(|| not_found("account", &adj.account))?;
        let mut account: BillingAccount = decode(&account_rec)?;
        let customer = account_rec.customer_ref.clone().unwrap_or_default();
        let mut bill: Bill = locked(tx, BssKind::Bill, adj.bill.as_str(), "bill").await?;
        if bill.account != adj.account {
            return Err(not_found("bill", &adj.bill));
        }
        if adj.amount.currency != bill.total.currency || adj.amount.currency != account.balance.currency {
            return Err(BssError::Invalid(format!(
                "the bill is in {}, not {}",
                bill.total.currency, adj.amount.currency
            )));
        }
        if adj.amount.minor == 0 {
            return Err(BssError::Invalid("an adjustment is not zero".into()));
        }
        let product = match &adj.item {
            Some(item_id) => {
                let item =
                    bill.items.iter().find(|i| &i.id == item_id).ok_or_else(|| not_found("bill item", item_id))?;
                if !item.adjustable {
                    return Err(rejected("not_adjustable", format!("“{}” cannot be adjusted", item.description)));
                }
                if adj.amount.minor > item.amount.minor {
                    return Err(rejected(
                        "exceeds_item",
                        format!("the credit is more than the item's {}", item.amount),
                    ));
                }
                item.product.clone()
            }
            None => None,
        };
        if adj.amount.minor > bill.total.minor {
            return Err(rejected("exceeds_bill", format!("the credit is more than the bill's {}", bill.total)));
        }
        let credit = adj.amount.minor;
        let n = bill.items.iter().filter(|i| i.kind == BillItemKind::Adjustment).count() + 1;
        bill.items.push(BillItem {
            id: crate::BillItemRef::parse(
                &format!("{}-ADJ{n}", bill.id).chars().take(crate::MAX_REF_LEN).collect::<String>(),
            )?,
            kind: BillItemKind::Adjustment,
            description: format!("Adjustment: {}", adj.reason),
            amount: Money::new(-credit, adj.amount.currency),
            product,
            adjustable: false,
        });
        bill.total.minor -= credit;
        // A credit pays off what is left to pay first; a debit adds to it.
        let off_unpaid = if credit > 0 { credit.min(bill.unpaid.minor) } else { credit };
        bill.unpaid.minor -= off_unpaid;
        if bill.state == BillState::Overdue && off_unpaid > 0 {
            account.overdue.minor -= off_unpaid.min(account.overdue.minor);
        }
        if bill.unpaid.minor <= 0 {
            bill.unpaid.minor = 0;
            bill.state = BillState::Settled;
        }
        account.balance.minor -= credit;
        let done = Adjustment {
            id: AdjustmentRef::parse(&random_id("ADJ"))?,
            bill: bill.id.clone(),
            item: adj.item.clone(),
            amount: adj.amount,
            reason: adj.reason.clone(),
            created_at,
        };
        tx.put(&bill_record(&customer, &bill)?).await.map_err(store_err)?;
        tx.put(&account_record(&CustomerRef::parse(&customer)?, &account)?).await.map_err(store_err)?;
        tx.put(&BssRecord {
            kind: BssKind::Adjustment,
            id: done.id.to_string(),
            customer_ref: Some(customer),
            account_ref: Some(adj.account.to_string()),
            external_id: Some(adj.external_id.clone()),
            sort_key: rfc3339(created_at),
            lookup: None,
            body: encode(&done)?,
        })
        .await
        .map_err(store_err)?;
        Ok(done)
    }

    /// Runs `write` once in a transaction unless `external_id` of `kind` exists already (then
    /// that record is the answer). The record `lock` (the customer or account the write changes)
    /// is locked first, so a concurrent write of the same id waits, then finds the first one's.
    async fn idempotent<T, F>(&self, kind: BssKind, external_id: &str, lock: (BssKind, &str), write: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: for<'t> AsyncFnOnce(&'t mut BssTx) -> Result<T>,
    {
        check_external_id(external_id)?;
        if let Some(done) = self.store.bss_record_by_external_id(kind, external_id).await.map_err(store_err)? {
            return decode(&done);
        }
        let mut tx = self.store.bss_begin().await.map_err(store_err)?;
        tx.lock(lock.0, lock.1).await.map_err(store_err)?;
        if let Some(done) = tx.by_external_id(kind, external_id).await.map_err(store_err)? {
            return decode(&done);
        }
        let out = write(&mut tx).await?;
        match tx.commit().await {
            Ok(()) => Ok(out),
            Err(StoreError::Conflict(_)) => {
                let done = self
                    .store
                    .bss_record_by_external_id(kind, external_id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| BssError::Unavailable("a concurrent write of the same id failed".into()))?;
                decode(&done)
            }
            Err(e) => Err(store_err(e)),
        }
    }
}

#[async_trait]
impl Bss for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn find_customers(&self, lookup: &Lookup, limit: u32) -> Result<Vec<BssCustomer>> {
        let limit = limit.clamp(1, 50);
        let records = match lookup {
            Lookup::Account(account) => {
                let Some(rec) = self.store.bss_record(BssKind::Account, account.as_str()).await.map_err(store_err)?
                else {
                    return Ok(Vec::new());
                };
                let Some(owner) = rec.customer_ref else { return Ok(Vec::new()) };
                self.store.bss_record(BssKind::Customer, &owner).await.map_err(store_err)?.into_iter().collect()
            }
            Lookup::Phone(text) | Lookup::Email(text) => {
                let needle: String = text.trim().to_lowercase().chars().filter(|c| !c.is_whitespace()).collect();
                if needle.is_empty() || needle.len() > 254 || needle.chars().any(char::is_control) {
                    return Err(BssError::Invalid("a phone number or e-mail address is 1 to 254 characters".into()));
                }
                self.store.bss_search(BssKind::Customer, &needle, true, limit).await.map_err(store_err)?
            }
            Lookup::Name(text) => {
                let needle = text.trim().to_lowercase();
                let n = needle.chars().count();
                if !(2..=100).contains(&n) || needle.chars().any(char::is_control) {
                    return Err(BssError::Invalid("a name to look up is 2 to 100 characters".into()));
                }
                self.store.bss_search(BssKind::Customer, &needle, false, limit).await.map_err(store_err)?
            }
        };
        records.iter().map(decode).collect()
    }

    async fn customer(&self, id: &CustomerRef) -> Result<BssCustomer> {
        self.require_customer(id).await
    }

    async fn accounts(&self, customer: &CustomerRef) -> Result<Vec<BillingAccount>> {
        let records =
            self.store.bss_records_of_customer(BssKind::Account, customer.as_str(), 100).await.map_err(store_err)?;
        if records.is_empty() {
            self.require_customer(customer).await?;
        }
        let mut out: Vec<BillingAccount> = records.iter().map(decode).collect::<Result<_>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn products(&self, customer: &CustomerRef) -> Result<Vec<Product>> {
        let records =
            self.store.bss_records_of_customer(BssKind::Product, customer.as_str(), 200).await.map_err(store_err)?;
        if records.is_empty() {
            self.require_customer(customer).await?;
        }
        records.iter().map(|r| decode::<ProductDoc>(r).map(|d| d.product)).collect()
    }

    async fn bills(&self, account: &AccountRef, limit: u32) -> Result<Vec<Bill>> {
        let records = self
            .store
            .bss_records_of_account(BssKind::Bill, account.as_str(), limit.clamp(1, 100))
            .await
            .map_err(store_err)?;
        if records.is_empty() {
            self.get::<BillingAccount>(BssKind::Account, account.as_str(), "account").await?;
        }
        records
            .iter()
            .map(|r| {
                decode::<Bill>(r).map(|mut b| {
                    b.items.clear();
                    b
                })
            })
            .collect()
    }

    async fn bill(&self, id: &BillRef) -> Result<Bill> {
        self.get(BssKind::Bill, id.as_str(), "bill").await
    }

    async fn usage(&self, product: &ProductRef) -> Result<Usage> {
        if let Some(rec) = self.store.bss_record(BssKind::Usage, product.as_str()).await.map_err(store_err)? {
            return decode(&rec);
        }
        self.product_doc(product).await?;
        let start = today().replace_day(1).unwrap_or_else(|_| today());
        let end = next_month_start(start).previous_day().unwrap_or(start);
        Ok(Usage { product: product.clone(), period_start: start, period_end: end, meters: Vec::new() })
    }

    async fn catalogue(&self) -> Result<Vec<Offering>> {
        Ok(self.offering_docs().await?.into_iter().map(|d| d.offering).collect())
    }

    async fn eligibility(&self, customer: &CustomerRef, offering: &OfferingRef) -> Result<Eligibility> {
        let c = self.require_customer(customer).await?;
        let doc: OfferingDoc = self.get(BssKind::Offering, offering.as_str(), "offering").await?;
        Ok(Self::eligibility_of(&c, &doc, today()))
    }

    async fn changes(&self, product: &ProductRef) -> Result<Vec<ProductChange>> {
        let (customer, doc) = self.product_doc(product).await?;
        let p = doc.product;
        if p.status != ProductStatus::Active || p.parent.is_some() {
            return Ok(Vec::new());
        }
        let current = p.recurring_price.map_or(0, |m| m.minor);
        let owned: Vec<Product> = self
            .store
            .bss_records_of_customer(BssKind::Product, &customer, 200)
            .await
            .map_err(store_err)?
            .iter()
            .map(|r| decode::<ProductDoc>(r).map(|d| d.product))
            .collect::<Result<_>>()?;
        let attached: Vec<&OfferingRef> = owned
            .iter()
            .filter(|a| a.parent.as_ref() == Some(&p.id) && a.status != ProductStatus::Terminated)
            .map(|a| &a.offering)
            .collect();
        let now = today();
        let mut out = Vec::new();
        for doc in self.offering_docs().await? {
            let o = doc.offering;
            if o.family != p.family || o.id == p.offering {
                continue;
            }
            let diff = o.recurring_price.minor - current;
            let (kind, difference, effective_date) = match o.kind {
                OfferingKind::Plan if diff >= 0 => (ChangeKind::Upgrade, diff, now),
                OfferingKind::Plan => (ChangeKind::Downgrade, diff, next_month_start(now)),
                OfferingKind::AddOn if attached.contains(&&o.id) => {
                    (ChangeKind::RemoveAddOn, -o.recurring_price.minor, next_month_start(now))
                }
                OfferingKind::AddOn => (ChangeKind::AddOn, o.recurring_price.minor, now),
            };
            out.push(ProductChange {
                kind,
                product: p.id.clone(),
                price_difference: Money::new(difference, o.recurring_price.currency),
                offering: o,
                effective_date,
            });
        }
        Ok(out)
    }

    async fn retention_offers(&self, product: &ProductRef) -> Result<Vec<RetentionOffer>> {
        let (_, doc) = self.product_doc(product).await?;
        let p = doc.product;
        let Some(price) = p.recurring_price.filter(|_| p.status == ProductStatus::Active) else {
            return Ok(Vec::new());
        };
        let offer = |pct: i64, months: u32| -> Result<RetentionOffer> {
            Ok(RetentionOffer {
                id: OfferingRef::parse(&format!("retention-{pct}pct-{months}m"))?,
                description: format!("{pct}% off {} for {months} months", p.name),
                monthly_discount: Money::new(price.minor * pct / 100, price.currency),
                months,
            })
        };
        Ok(vec![offer(25, 6)?, offer(50, 3)?])
    }

    async fn orders(&self, customer: &CustomerRef, limit: u32) -> Result<Vec<Order>> {
        let records = self
            .store
            .bss_records_of_customer(BssKind::Order, customer.as_str(), limit.clamp(1, 100))
            .await
            .map_err(store_err)?;
        if records.is_empty() {
            self.require_customer(customer).await?;
        }
        records.iter().map(decode).collect()
    }

    async fn place_order(&self, order: &NewOrder) -> Result<Order> {
        if order.items.is_empty() || order.items.len() > MAX_ORDER_ITEMS {
            return Err(BssError::Invalid(format!("an order has 1 to {MAX_ORDER_ITEMS} items")));
        }
        check_text("a note", &order.note, MAX_NOTE, false)?;
        for item in &order.items {
            if let Some(reason) = &item.reason {
                check_text("a reason", reason, MAX_REASON, true)?;
            }
        }
        let created_at = OffsetDateTime::now_utc();
        self.idempotent(
            BssKind::Order,
            &order.external_id,
            (BssKind::Customer, order.customer.as_str()),
            async |tx: &mut BssTx| self.apply_order(tx, order, created_at).await,
        )
        .await
    }

    async fn adjust(&self, adjustment: &NewAdjustment) -> Result<Adjustment> {
        check_text("a reason", &adjustment.reason, MAX_REASON, true)?;
        check_text("a note", &adjustment.note, MAX_NOTE, false)?;
        let created_at = OffsetDateTime::now_utc();
        self.idempotent(
            BssKind::Adjustment,
            &adjustment.external_id,
            (BssKind::Account, adjustment.account.as_str()),
            async |tx: &mut BssTx| Self::apply_adjustment(tx, adjustment, created_at).await,
        )
        .await
    }

    async fn arrange_payment(&self, arrangement: &NewPaymentArrangement) -> Result<PaymentArrangement> {
        let a = arrangement;
        self.idempotent(
            BssKind::Arrangement,
            &a.external_id,
            (BssKind::Account, a.account.as_str()),
            async |tx: &mut BssTx| {
                let rec = tx
                    .lock(BssKind::Account, a.account.as_str())
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| not_found("account", &a.account))?;
                let account: BillingAccount = decode(&rec)?;
                if a.amount.currency != account.balance.currency {
                    return Err(BssError::Invalid(format!(
                        "the account is in {}, not {}",
                        account.balance.currency, a.amount.currency
                    )));
                }
                if a.amount.minor <= 0 {
                    return Err(BssError::Invalid("an arrangement's amount is more than zero".into()));
                }
                if account.kind != PaymentKind::Postpaid {
                    return Err(rejected("prepaid", "a prepaid account has nothing to arrange"));
                }
                if a.amount.minor > account.balance.minor {
                    return Err(rejected(
                        "exceeds_balance",
                        format!("the amount is more than the balance of {}", account.balance),
                    ));
                }
                let now = today();
                if a.pay_by <= now || a.pay_by > now.saturating_add(Duration::days(MAX_ARRANGEMENT_DAYS)) {
                    return Err(rejected(
                        "pay_by",
                        format!("the date to pay by is within the next {MAX_ARRANGEMENT_DAYS} days"),
                    ));
                }
                let done = PaymentArrangement {
                    id: random_id("PA"),
                    account: a.account.clone(),
                    amount: a.amount,
                    pay_by: a.pay_by,
                };
                tx.put(&BssRecord {
                    kind: BssKind::Arrangement,
                    id: done.id.clone(),
                    customer_ref: rec.customer_ref.clone(),
                    account_ref: Some(a.account.to_string()),
                    external_id: Some(a.external_id.clone()),
                    sort_key: iso(now),
                    lookup: None,
                    body: encode(&done)?,
                })
                .await
                .map_err(store_err)?;
                Ok(done)
            },
        )
        .await
    }

    async fn run_service_test(&self, product: &ProductRef) -> Result<ServiceTest> {
        let (_, doc) = self.product_doc(product).await?;
        let p = &doc.product;
        let finished_at = OffsetDateTime::now_utc();
        let id = ServiceTestRef::parse(&format!("ST-{}", finished_at.unix_timestamp_nanos() / 1_000_000))?;
        let m = |name: &str, value: &str, ok: bool| TestMeasure { name: name.to_owned(), value: value.to_owned(), ok };
        let (verdict, summary, measures) = if p.status != ProductStatus::Active {
            (
                TestVerdict::Inconclusive,
                format!("{} is not active: nothing to test", p.name),
                vec![m("service_active", "false", false)],
            )
        } else {
            let ok = !doc.faulty;
            let measures = match p.family {
                ProductFamily::Mobile => vec![
                    m("registered", if ok { "true" } else { "false" }, ok),
                    m("signal_dbm", if ok { "-71" } else { "-121" }, ok),
                    m("data_session", if ok { "up" } else { "down" }, ok),
                ],
                ProductFamily::Fibre => vec![
                    m("ont_status", if ok { "online" } else { "los" }, ok),
                    m("optical_power_dbm", if ok { "-18.2" } else { "-40.0" }, ok),
                    m("sync_rate_down_mbps", if ok { fibre_speed(&p.offering) } else { "0" }, ok),
                ],
                ProductFamily::Tv => vec![
                    m("set_top_box", if ok { "reachable" } else { "unreachable" }, ok),
                    m("multicast_join", if ok { "ok" } else { "timeout" }, ok),
                ],
                ProductFamily::Landline | ProductFamily::Other => vec![
                    m("line_voltage_v", if ok { "48" } else { "0" }, ok),
                    m("dial_tone", if ok { "true" } else { "false" }, ok),
                ],
            };
            if ok {
                (TestVerdict::Pass, format!("{} works: no fault found", p.name), measures)
            } else {
                (TestVerdict::Fail, format!("{}: a fault was found on the line; book a technician", p.name), measures)
            }
        };
        Ok(ServiceTest { id, product: p.id.clone(), verdict, summary, measures, finished_at })
    }
}

fn fibre_speed(offering: &OfferingRef) -> &'static str {
    match offering.as_str() {
        "fibre-300" => "300",
        "fibre-600" => "600",
        _ => "1000",
    }
}

#[cfg(test)]
mod tests;
