#![allow(clippy::unwrap_used, clippy::panic)]

use schema::StoreOptions;

use super::*;
use crate::{BillItemRef, Currency, OrderItem};

struct Db {
    bss: Embedded,
    path: std::path::PathBuf,
}

impl Drop for Db {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn db() -> Db {
    let path = std::env::temp_dir().join(format!("bss-embedded-{:016x}.db", rand::random::<u64>()));
    let store = Store::connect(&format!("sqlite://{}", path.display()), &StoreOptions::default()).await.unwrap();
    Db { bss: Embedded::new(store), path }
}

fn r<T>(f: fn(&str) -> Result<T>, s: &str) -> T {
    f(s).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

async fn seeded(bss: &Embedded, id: &str, profile: Profile) -> SeededCustomer {
    let seed = CustomerSeed {
        email: Some(format!("{}@example.com", id.to_lowercase())),
        phone: Some("+34600999000".into()),
        ..CustomerSeed::new(r(CustomerRef::parse, id), "Test Customer", profile)
    };
    bss.seed_customer(&seed, today()).await.unwrap()
}

#[tokio::test]
async fn a_seeded_customer_has_accounts_products_bills_and_usage() {
    let db = db().await;
    let s = seeded(&db.bss, "T-FAM", Profile::Family).await;
    let c = db.bss.customer(&s.customer).await.unwrap();
    assert_eq!(c.segment, "gold");
    assert_eq!(c.address.as_ref().unwrap().postcode, "28013");
    let accounts = db.bss.accounts(&s.customer).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].kind, PaymentKind::Postpaid);
    assert_eq!(accounts[0].overdue.minor, 0);
    let products = db.bss.products(&s.customer).await.unwrap();
    assert_eq!(products.len(), 5);
    let fibre = products.iter().find(|p| p.family == ProductFamily::Fibre).unwrap();
    assert!(fibre.commitment_end.unwrap() > today());
    assert!(fibre.early_termination_fee.unwrap().minor > 0);
    let bills = db.bss.bills(&s.account, 10).await.unwrap();
    assert_eq!(bills.len(), 4);
    assert!(bills.iter().all(|b| b.items.is_empty()), "lists leave the items out");
    assert!(bills[0].issued > bills[1].issued, "newest first");
    assert_eq!(bills[0].state, BillState::New);
    assert_eq!(accounts[0].balance, bills[0].unpaid);
    let bill = db.bss.bill(&bills[0].id).await.unwrap();
    let kinds: Vec<BillItemKind> = bill.items.iter().map(|i| i.kind).collect();
    for k in [BillItemKind::Recurring, BillItemKind::Usage, BillItemKind::Discount, BillItemKind::Tax] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    assert_eq!(bill.items.iter().map(|i| i.amount.minor).sum::<i64>(), bill.total.minor);
    let mobile = products.iter().find(|p| p.offering.as_str() == "mobile-50").unwrap();
    let usage = db.bss.usage(&mobile.id).await.unwrap();
    assert!(usage.meters.iter().any(|m| m.kind == crate::UsageKind::Data && m.allowance.is_some()));
    // A TV product has no meters, but an answer.
    let tv = products.iter().find(|p| p.offering.as_str() == "tv-essentials").unwrap();
    assert!(db.bss.usage(&tv.id).await.unwrap().meters.is_empty());

    // Seeding again changes nothing.
    let again = seeded(&db.bss, "T-FAM", Profile::Family).await;
    assert_eq!(again, s);
    assert_eq!(db.bss.products(&s.customer).await.unwrap().len(), 5);
    assert_eq!(db.bss.catalogue().await.unwrap().len(), 14);
}

#[tokio::test]
async fn arrears_and_prepaid_profiles() {
    let db = db().await;
    let a = seeded(&db.bss, "T-ARR", Profile::Arrears).await;
    let acc = &db.bss.accounts(&a.customer).await.unwrap()[0];
    assert!(acc.overdue.minor > 0 && acc.balance.minor > acc.overdue.minor);
    let bills = db.bss.bills(&a.account, 10).await.unwrap();
    assert_eq!(bills.iter().filter(|b| b.state == BillState::Overdue).count(), 2);
    assert!(acc.due_date.unwrap() < today());

    let p = seeded(&db.bss, "T-PRE", Profile::Prepaid).await;
    let acc = &db.bss.accounts(&p.customer).await.unwrap()[0];
    assert_eq!(acc.kind, PaymentKind::Prepaid);
    assert!(acc.balance.minor < 0, "credit left");
    assert!(db.bss.bills(&p.account, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_records_are_not_found() {
    let db = db().await;
    let nobody = r(CustomerRef::parse, "NOBODY");
    assert!(matches!(db.bss.customer(&nobody).await, Err(BssError::NotFound { .. })));
    assert!(matches!(db.bss.accounts(&nobody).await, Err(BssError::NotFound { .. })));
    assert!(matches!(db.bss.bill(&r(BillRef::parse, "B-0")).await, Err(BssError::NotFound { .. })));
    assert!(matches!(db.bss.usage(&r(ProductRef::parse, "P-0")).await, Err(BssError::NotFound { .. })));
    assert!(matches!(db.bss.bills(&r(AccountRef::parse, "A-0"), 5).await, Err(BssError::NotFound { .. })));
}

#[tokio::test]
async fn customers_are_found_by_phone_email_account_and_name() {
    let db = db().await;
    let s = seeded(&db.bss, "T-FIND", Profile::Mobile).await;
    let found = |v: Vec<BssCustomer>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        found(db.bss.find_customers(&Lookup::Email("T-FIND@Example.com".into()), 5).await.unwrap()),
        vec![s.customer.clone()]
    );
    assert_eq!(
        found(db.bss.find_customers(&Lookup::Phone("+34 600 999 000".into()), 5).await.unwrap()),
        vec![s.customer.clone()]
    );
    assert_eq!(
        found(db.bss.find_customers(&Lookup::Account(s.account.clone()), 5).await.unwrap()),
        vec![s.customer.clone()]
    );
    assert_eq!(
        found(db.bss.find_customers(&Lookup::Name("customer".into()), 5).await.unwrap()),
        vec![s.customer.clone()]
    );
    // A part of an address is not an address; wildcards are literal.
    assert!(db.bss.find_customers(&Lookup::Email("example.com".into()), 5).await.unwrap().is_empty());
    assert!(db.bss.find_customers(&Lookup::Name("%_".into()), 5).await.unwrap().is_empty());
    assert!(matches!(db.bss.find_customers(&Lookup::Name("x".into()), 5).await, Err(BssError::Invalid(_))));
}

#[tokio::test]
async fn an_adjustment_credits_the_bill_and_the_account_once() {
    let db = db().await;
    let s = seeded(&db.bss, "T-ADJ", Profile::Arrears).await;
    let latest = db.bss.bill(&s.bills[0]).await.unwrap();
    let before = db.bss.accounts(&s.customer).await.unwrap()[0].clone();
    let item = latest.items.iter().find(|i| i.adjustable && i.kind == BillItemKind::Usage).unwrap();
    let adj = NewAdjustment {
        account: s.account.clone(),
        bill: latest.id.clone(),
        item: Some(item.id.clone()),
        amount: eur(100),
        reason: "service_outage".into(),
        external_id: "hub-adj-1".into(),
        note: "test".into(),
    };
    let done = db.bss.adjust(&adj).await.unwrap();
    let again = db.bss.adjust(&adj).await.unwrap();
    assert_eq!(done, again, "idempotent by external id");
    let after = db.bss.bill(&latest.id).await.unwrap();
    assert_eq!(after.items.len(), latest.items.len() + 1);
    let line = after.items.last().unwrap();
    assert_eq!(line.kind, BillItemKind::Adjustment);
    assert_eq!(line.amount.minor, -100);
    assert!(!line.adjustable);
    assert_eq!(after.unpaid.minor, latest.unpaid.minor - 100);
    assert_eq!(after.total.minor, latest.total.minor - 100);
    let account = db.bss.accounts(&s.customer).await.unwrap()[0].clone();
    assert_eq!(account.balance.minor, before.balance.minor - 100);

    // Crediting an overdue bill lowers the overdue amount too.
    let overdue = db.bss.bill(&s.bills[1]).await.unwrap();
    assert_eq!(overdue.state, BillState::Overdue);
    let adj2 = NewAdjustment { bill: overdue.id.clone(), item: None, external_id: "hub-adj-2".into(), ..adj.clone() };
    db.bss.adjust(&adj2).await.unwrap();
    let account2 = db.bss.accounts(&s.customer).await.unwrap()[0].clone();
    assert_eq!(account2.overdue.minor, account.overdue.minor - 100);

    // Refusals write nothing.
    let too_much = NewAdjustment { amount: eur(item.amount.minor + 1), external_id: "hub-adj-3".into(), ..adj.clone() };
    assert!(matches!(db.bss.adjust(&too_much).await, Err(BssError::Rejected { .. })));
    let settled = db.bss.bill(&s.bills[3]).await.unwrap();
    assert_eq!(settled.state, BillState::Settled);
    let not_adjustable = NewAdjustment {
        bill: settled.id.clone(),
        item: Some(settled.items[0].id.clone()),
        external_id: "hub-adj-4".into(),
        ..adj.clone()
    };
    assert!(matches!(db.bss.adjust(&not_adjustable).await, Err(BssError::Rejected { .. })));
    let usd = NewAdjustment {
        amount: Money::new(100, Currency::parse("USD").unwrap()),
        external_id: "hub-adj-5".into(),
        ..adj.clone()
    };
    assert!(matches!(db.bss.adjust(&usd).await, Err(BssError::Invalid(_))));
    let bad_item =
        NewAdjustment { item: Some(r(BillItemRef::parse, "nope")), external_id: "hub-adj-6".into(), ..adj.clone() };
    assert!(matches!(db.bss.adjust(&bad_item).await, Err(BssError::NotFound { .. })));
    // Another customer's bill through this account: not found.
    let other = seeded(&db.bss, "T-OTHER", Profile::Mobile).await;
    let foreign = NewAdjustment { bill: other.bills[0].clone(), item: None, external_id: "hub-adj-7".into(), ..adj };
    assert!(matches!(db.bss.adjust(&foreign).await, Err(BssError::NotFound { .. })));
    assert_eq!(db.bss.bill(&latest.id).await.unwrap(), after);
    assert_eq!(db.bss.accounts(&s.customer).await.unwrap()[0], account2);
}

#[tokio::test]
async fn orders_add_modify_and_delete_products_once() {
    let db = db().await;
    let s = seeded(&db.bss, "T-ORD", Profile::Family).await;
    let products = db.bss.products(&s.customer).await.unwrap();
    let mobile = products.iter().find(|p| p.offering.as_str() == "mobile-50").unwrap();
    let tv = products.iter().find(|p| p.offering.as_str() == "tv-essentials").unwrap();
    let football = products.iter().find(|p| p.offering.as_str() == "tv-football").unwrap();
    let date = working_days_after(today(), 1)[0];
    let order = NewOrder {
        customer: s.customer.clone(),
        account: s.account.clone(),
        items: vec![
            OrderItem {
                action: OrderAction::Modify,
                product: Some(mobile.id.clone()),
                offering: Some(r(OfferingRef::parse, "mobile-unlimited")),
                requested_date: None,
                reason: None,
            },
            OrderItem {
                action: OrderAction::Delete,
                product: Some(tv.id.clone()),
                offering: None,
                requested_date: None,
                reason: Some("too_expensive".into()),
            },
            OrderItem {
                action: OrderAction::Add,
                product: None,
                offering: Some(r(OfferingRef::parse, "landline")),
                requested_date: Some(date),
                reason: None,
            },
        ],
        external_id: "hub-order-1".into(),
        note: "by Ana".into(),
    };
    let placed = db.bss.place_order(&order).await.unwrap();
    assert_eq!(placed.state, OrderState::InProgress);
    assert_eq!(db.bss.place_order(&order).await.unwrap(), placed, "idempotent");
    let after = db.bss.products(&s.customer).await.unwrap();
    assert_eq!(after.len(), 6, "one product added, once");
    let get = |id: &ProductRef| after.iter().find(|p| &p.id == id).unwrap().clone();
    assert_eq!(get(&mobile.id).offering.as_str(), "mobile-unlimited");
    assert_eq!(get(&mobile.id).recurring_price, Some(eur(3500)));
    assert_eq!(get(&tv.id).status, ProductStatus::Terminated);
    assert_eq!(get(&football.id).status, ProductStatus::Terminated, "the add-on goes with its base");
    let added = after.iter().find(|p| p.offering.as_str() == "landline").unwrap();
    assert_eq!(added.status, ProductStatus::Pending);
    assert_eq!(db.bss.orders(&s.customer, 10).await.unwrap(), vec![placed]);

    // A refused order writes nothing (all or none).
    let bad = NewOrder {
        items: vec![
            OrderItem {
                action: OrderAction::Modify,
                product: Some(mobile.id.clone()),
                offering: Some(r(OfferingRef::parse, "mobile-10")),
                requested_date: None,
                reason: None,
            },
            OrderItem {
                action: OrderAction::Delete,
                product: Some(tv.id.clone()),
                offering: None,
                requested_date: None,
                reason: None,
            },
        ],
        external_id: "hub-order-2".into(),
        ..order.clone()
    };
    assert!(matches!(db.bss.place_order(&bad).await, Err(BssError::Rejected { .. })));
    assert_eq!(db.bss.products(&s.customer).await.unwrap(), after);
    // Someone else's product: not found.
    let other = seeded(&db.bss, "T-ORD2", Profile::Mobile).await;
    let foreign = NewOrder {
        items: vec![OrderItem {
            action: OrderAction::Delete,
            product: Some(other.products[0].clone()),
            offering: None,
            requested_date: None,
            reason: None,
        }],
        external_id: "hub-order-3".into(),
        ..order.clone()
    };
    assert!(matches!(db.bss.place_order(&foreign).await, Err(BssError::NotFound { .. })));
    // Fibre needs an installation date.
    let no_date = NewOrder {
        items: vec![OrderItem {
            action: OrderAction::Add,
            product: None,
            offering: Some(r(OfferingRef::parse, "fibre-300")),
            requested_date: None,
            reason: None,
        }],
        external_id: "hub-order-4".into(),
        ..order
    };
    assert!(matches!(db.bss.place_order(&no_date).await, Err(BssError::Invalid(_))));
}

#[tokio::test]
async fn eligibility_follows_the_postcode_and_offers_working_days() {
    let db = db().await;
    let inside = seeded(&db.bss, "T-IN", Profile::Mobile).await;
    let outside = CustomerSeed {
        postcode: "28050".into(),
        ..CustomerSeed::new(r(CustomerRef::parse, "T-OUT"), "Out", Profile::Prepaid)
    };
    let outside = db.bss.seed_customer(&outside, today()).await.unwrap();
    let fibre = r(OfferingRef::parse, "fibre-1g");
    let yes = db.bss.eligibility(&inside.customer, &fibre).await.unwrap();
    assert!(yes.eligible);
    assert_eq!(yes.installation_dates.len(), 5);
    assert!(yes.installation_dates.iter().all(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)));
    assert!(yes.installation_dates[0] > today().next_day().unwrap());
    let no = db.bss.eligibility(&outside.customer, &fibre).await.unwrap();
    assert!(!no.eligible);
    assert!(no.reason.unwrap().contains("28050"));
    let mobile = db.bss.eligibility(&outside.customer, &r(OfferingRef::parse, "mobile-50")).await.unwrap();
    assert!(mobile.eligible && mobile.installation_dates.is_empty());
}

#[tokio::test]
async fn changes_retention_and_line_tests() {
    let db = db().await;
    let s = seeded(&db.bss, "T-CHG", Profile::FaultyFibre).await;
    let fibre = &s.products[0];
    let changes = db.bss.changes(fibre).await.unwrap();
    assert!(changes.iter().any(|c| c.kind == ChangeKind::Downgrade && c.price_difference.minor < 0));
    assert!(changes.iter().any(|c| c.kind == ChangeKind::RemoveAddOn && c.offering.id.as_str() == "addon-static-ip"));
    assert!(!db.bss.retention_offers(fibre).await.unwrap().is_empty());
    let failed = db.bss.run_service_test(fibre).await.unwrap();
    assert_eq!(failed.verdict, TestVerdict::Fail);
    assert!(failed.measures.iter().any(|m| !m.ok));
    let mobile = &s.products[2];
    assert_eq!(db.bss.run_service_test(mobile).await.unwrap().verdict, TestVerdict::Pass);
    assert_eq!(db.bss.run_service_test(mobile).await.unwrap().verdict, TestVerdict::Pass, "deterministic");
}

#[tokio::test]
async fn payment_arrangements_are_bounded_and_idempotent() {
    let db = db().await;
    let s = seeded(&db.bss, "T-PAY", Profile::Arrears).await;
    let balance = db.bss.accounts(&s.customer).await.unwrap()[0].balance;
    let pa = NewPaymentArrangement {
        account: s.account.clone(),
        amount: balance,
        pay_by: today().saturating_add(Duration::days(14)),
        external_id: "hub-pa-1".into(),
    };
    let done = db.bss.arrange_payment(&pa).await.unwrap();
    assert_eq!(db.bss.arrange_payment(&pa).await.unwrap(), done);
    let late = NewPaymentArrangement {
        pay_by: today().saturating_add(Duration::days(200)),
        external_id: "hub-pa-2".into(),
        ..pa.clone()
    };
    assert!(matches!(db.bss.arrange_payment(&late).await, Err(BssError::Rejected { .. })));
    let more = NewPaymentArrangement { amount: eur(balance.minor + 1), external_id: "hub-pa-3".into(), ..pa };
    assert!(matches!(db.bss.arrange_payment(&more).await, Err(BssError::Rejected { .. })));
}

#[test]
fn working_days_skip_weekends() {
    // 2026-11-27 is a Friday: after tomorrow (Saturday) come Monday 30th, Tuesday 1st, ...
    let friday = Date::from_calendar_date(2026, time::Month::November, 27).unwrap();
    let days = working_days_after(friday, 3);
    assert_eq!(days.iter().map(|d| d.day()).collect::<Vec<_>>(), vec![30, 1, 2]);
}
