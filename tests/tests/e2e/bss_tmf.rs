//! The TM Forum client (`bss::tmf::TmfClient`) against the stand-in TMF server
//! (`tests::tmf::TmfStandIn`): every method of the `Bss` trait, paging over several pages,
//! `fields`, idempotent orders and adjustments, and the error mapping (404, 422 TMF error, 500,
//! malformed and oversized replies, a slow answer beyond the timeout, a dropped connection), the
//! circuit breaker of `bss::Resilient` around it, and the hub configured with `kind = "tmf"`:
//! its customer panel, and a bill adjustment (within the limit, then above it and approved)
//! reaching the stand-in as a TMF678 credit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::bss::tmf::{TmfClient, TmfConfig, Token};
use ::bss::{
    AccountRef, BillRef, BillState, BreakerState, Bss, BssError, ChangeKind, Currency, CustomerRef, Lookup, Money,
    NewAdjustment, NewOrder, NewPaymentArrangement, OfferingRef, OrderAction, OrderItem, PaymentKind, ProductFamily,
    ProductRef, ProductStatus, ResilienceConfig, Resilient, TestVerdict, UsageKind,
};
use hub::config::{BssKind, Secret};
use schema::{Store, StoreOptions};
use serde_json::json;
use tests::tmf::{Faults, TmfStandIn};
use tests::{ANA, BRUNO, Backend, TestDb, both_backends, spawn_app_with, test_config};

const TOKEN: &str = "tmf-test-token";

async fn standin() -> TmfStandIn {
    TmfStandIn::start_on("127.0.0.1:0", Some(TOKEN.into())).await
}

fn client(standin: &TmfStandIn, page_size: u32) -> TmfClient {
    let mut config = TmfConfig::new(standin.url.clone());
    config.token = Some(Token::new(TOKEN.into()));
    config.page_size = page_size;
    config.timeout = Duration::from_millis(400);
    TmfClient::new(config).expect("client")
}

fn customer(id: &str) -> CustomerRef {
    CustomerRef::parse(id).unwrap()
}

fn product(id: &str) -> ProductRef {
    ProductRef::parse(id).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_accounts_and_products() {
    let s = standin().await;
    let c = client(&s, 2);

    let found = c.find_customers(&Lookup::Phone("+34611222333".into()), 10).await.unwrap();
    assert_eq!(found.len(), 1);
    let lucia = &found[0];
    assert_eq!(
        (lucia.id.as_str(), lucia.name.as_str(), lucia.segment.as_str()),
        ("CUST-1001", "Lucía Fernández Ruiz", "gold")
    );
    assert_eq!(lucia.address.as_ref().map(|a| a.postcode.as_str()), Some("28012"));
    assert_eq!(
        c.find_customers(&Lookup::Email("CARMEN.ORTEGA@example.es".into()), 10).await.unwrap()[0].id.as_str(),
        "CUST-1003"
    );
    let by_account = c.find_customers(&Lookup::Account(AccountRef::parse("ACC-2004").unwrap()), 10).await.unwrap();
    assert_eq!(by_account[0].id.as_str(), "CUST-1004");
    let by_name = c.find_customers(&Lookup::Name("ort".into()), 10).await.unwrap();
    assert_eq!(by_name.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["CUST-1003"]);
    assert!(c.find_customers(&Lookup::Phone("+34999999999".into()), 10).await.unwrap().is_empty());
    assert!(matches!(c.find_customers(&Lookup::Name("a".into()), 10).await, Err(BssError::Invalid(_))));

    assert_eq!(c.customer(&customer("CUST-1002")).await.unwrap().name, "Javier Moreno Sanz");

    // The bearer token went with every request, and only the fields used were asked for.
    let seen = s.seen();
    assert!(seen.iter().all(|r| r.authorization.as_deref() == Some("Bearer tmf-test-token")));
    let get = seen.iter().find(|r| r.path.ends_with("/customer/CUST-1002")).unwrap();
    assert_eq!(get.param("fields"), Some("id,name,status,engagedParty,contactMedium,characteristic"));

    let carmen = c.accounts(&customer("CUST-1003")).await.unwrap();
    assert_eq!(carmen.len(), 1);
    assert_eq!(carmen[0].kind, PaymentKind::Postpaid);
    assert!(carmen[0].overdue.minor > 0, "Carmen is in arrears: {:?}", carmen[0]);
    let javier = c.accounts(&customer("CUST-1002")).await.unwrap();
    assert_eq!((javier[0].kind, javier[0].balance), (PaymentKind::Prepaid, eur(-850)));

    // Five products in pages of two: three requests, offsets 0, 2, 4.
    s.clear_seen();
    let products = c.products(&customer("CUST-1005")).await.unwrap();
    assert_eq!(products.len(), 5);
    let pages: Vec<_> = s.seen().into_iter().filter(|r| r.path.ends_with("/productInventory/v4/product")).collect();
    assert_eq!(pages.iter().map(|r| r.param("offset").unwrap().to_owned()).collect::<Vec<_>>(), vec!["0", "2", "4"]);
    assert!(pages.iter().all(|r| r.param("limit") == Some("2") && r.param("relatedParty.id") == Some("CUST-1005")));
    let lucia = c.products(&customer("CUST-1001")).await.unwrap();
    let fibre = lucia.iter().find(|p| p.family == ProductFamily::Fibre).unwrap();
    assert_eq!((fibre.recurring_price, fibre.early_termination_fee), (Some(eur(4500)), Some(eur(12000))));
    assert_eq!(fibre.status, ProductStatus::Active);
    let futbol = lucia.iter().find(|p| p.id.as_str() == "PRD-3004").unwrap();
    assert_eq!(futbol.parent.as_ref().map(ProductRef::as_str), Some("PRD-3003"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bills_usage_and_catalogue() {
    let s = standin().await;
    let c = client(&s, 50);
    let account = AccountRef::parse("ACC-2003").unwrap();
    let bills = c.bills(&account, 2).await.unwrap();
    assert_eq!(bills.len(), 2);
    assert!(bills[0].issued > bills[1].issued, "newest first");
    assert_eq!(bills[1].state, BillState::Overdue, "Carmen's previous bill is unpaid: {:?}", bills[1]);
    let req = s.seen().into_iter().rfind(|r| r.path.ends_with("/customerBill")).unwrap();
    assert_eq!((req.param("sort"), req.param("limit")), (Some("-billDate"), Some("2")));

    let bill = c.bill(&bills[0].id).await.unwrap();
    assert_eq!(bill.items.len(), 3, "two products and the tax: {:?}", bill.items);
    let sum = bill.items.iter().fold(eur(0), |a, i| a.checked_add(i.amount).unwrap());
    assert_eq!(sum, bill.total);
    assert!(bill.items.iter().any(|i| i.adjustable));
    assert!(matches!(
        c.bill(&BillRef::parse("BILL-NOPE").unwrap()).await,
        Err(BssError::NotFound { kind: "bill", .. })
    ));

    let usage = c.usage(&product("PRD-3007")).await.unwrap();
    let data = usage.meters.iter().find(|m| m.kind == UsageKind::Data).unwrap();
    assert_eq!((data.used, data.allowance), (2050, Some(10_240)), "this month's records only");
    let voice = usage.meters.iter().find(|m| m.kind == UsageKind::Voice).unwrap();
    assert_eq!((voice.used, voice.allowance), (42, None));

    let catalogue = c.catalogue().await.unwrap();
    assert_eq!(catalogue.len(), 9, "retention offers are not in the catalogue");
    let fibre = catalogue.iter().find(|o| o.id.as_str() == "fibre-1g").unwrap();
    assert!(fibre.requires_installation);
    assert_eq!((fibre.recurring_price, fibre.commitment_months), (eur(4500), 12));

    let changes = c.changes(&product("PRD-3006")).await.unwrap();
    let up = changes.iter().find(|ch| ch.kind == ChangeKind::Upgrade).unwrap();
    assert_eq!((up.offering.id.as_str(), up.price_difference), ("fibre-1g", eur(1000)));
    let down = c.changes(&product("PRD-3002")).await.unwrap();
    assert!(down.iter().any(|ch| ch.kind == ChangeKind::Downgrade && ch.price_difference == eur(-1500)));
    assert!(down.iter().any(|ch| ch.kind == ChangeKind::AddOn && ch.offering.id.as_str() == "mobile-roaming"));
    let offers = c.retention_offers(&product("PRD-3001")).await.unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!((offers[0].monthly_discount, offers[0].months), (eur(1000), 12));

    let fibre_ref = OfferingRef::parse("fibre-1g").unwrap();
    let yes = c.eligibility(&customer("CUST-1003"), &fibre_ref).await.unwrap();
    assert!(yes.eligible);
    assert_eq!(yes.installation_dates.len(), 3);
    let no = c.eligibility(&customer("CUST-1002"), &fibre_ref).await.unwrap();
    assert!(!no.eligible);
    assert!(no.reason.unwrap().contains("28005"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_adjustments_arrangements_and_line_tests() {
    let s = standin().await;
    let c = client(&s, 50);
    let cust = customer("CUST-1001");
    let account = AccountRef::parse("ACC-2001").unwrap();
    let order = NewOrder {
        customer: cust.clone(),
        account: account.clone(),
        items: vec![OrderItem {
            action: OrderAction::Add,
            product: Some(product("PRD-3003")),
            offering: Some(OfferingRef::parse("tv-cine").unwrap()),
            requested_date: None,
            reason: None,
        }],
        external_id: "hub-order-0001".into(),
        note: "added by Ana in conversation 42".into(),
    };
    let placed = c.place_order(&order).await.unwrap();
    assert_eq!(placed.external_id.as_deref(), Some("hub-order-0001"));
    assert_eq!(placed.items[0].product.as_ref().map(ProductRef::as_str), Some("PRD-3003"));
    // Placing it again (a retry after a lost answer) returns the first order, not a second one.
    let again = c.place_order(&order).await.unwrap();
    assert_eq!(again.id, placed.id);
    assert_eq!(s.resources("productOrder").len(), 2, "the fixture's order and this one");
    let orders = c.orders(&cust, 10).await.unwrap();
    assert_eq!(orders[0].id, placed.id, "newest first");
    assert!(
        c.products(&cust)
            .await
            .unwrap()
            .iter()
            .any(|p| p.offering.as_str() == "tv-cine" && p.status == ProductStatus::Pending)
    );

    // A business refusal comes back as Rejected with the TMF code.
    let mut bad = order.clone();
    bad.external_id = "hub-order-0002".into();
    bad.items[0].offering = Some(OfferingRef::parse("no-such-offering").unwrap());
    match c.place_order(&bad).await {
        Err(BssError::Rejected { code, message }) => {
            assert_eq!(code, "UNKNOWN_OFFERING");
            assert!(message.contains("not in the catalogue"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }

    let bill = c.bills(&account, 1).await.unwrap().remove(0);
    let item = c.bill(&bill.id).await.unwrap().items.into_iter().find(|i| i.adjustable).unwrap();
    let adjustment = NewAdjustment {
        account: account.clone(),
        bill: bill.id.clone(),
        item: Some(item.id.clone()),
        amount: eur(1550),
        reason: "service_outage".into(),
        external_id: "hub-adj-0001".into(),
        note: "fibre outage on 12 November".into(),
    };
    let done = c.adjust(&adjustment).await.unwrap();
    assert_eq!((done.amount, done.item.as_ref()), (eur(1550), Some(&item.id)));
    assert_eq!(c.adjust(&adjustment).await.unwrap().id, done.id, "idempotent by external id");
    let after = c.bill(&bill.id).await.unwrap();
    assert_eq!(after.unpaid, Money::new(bill.unpaid.minor - 1550, bill.unpaid.currency));
    // The stand-in keeps the credit exact: the amount went out as the number 15.50, not a float.
    let rate = s.resources("appliedCustomerBillingRate").into_iter().find(|r| r["id"] == done.id.as_str()).unwrap();
    assert_eq!(rate["taxIncludedAmount"], json!({"unit": "EUR", "value": -15.5}));
    // A settled bill cannot be adjusted.
    let old = c.bills(&account, 3).await.unwrap().into_iter().find(|b| b.state == BillState::Settled).unwrap();
    let closed = NewAdjustment { bill: old.id, item: None, external_id: "hub-adj-0002".into(), ..adjustment.clone() };
    assert!(matches!(c.adjust(&closed).await, Err(BssError::Rejected { code, .. }) if code == "BILL_CLOSED"));

    let pay_by = time::OffsetDateTime::now_utc().date() + time::Duration::days(10);
    let arrangement = NewPaymentArrangement {
        account: AccountRef::parse("ACC-2003").unwrap(),
        amount: eur(6000),
        pay_by,
        external_id: "hub-pa-0001".into(),
    };
    let pa = c.arrange_payment(&arrangement).await.unwrap();
    assert_eq!((pa.amount, pa.pay_by), (eur(6000), pay_by));
    c.arrange_payment(&arrangement).await.unwrap();
    let acc = s.resources("billingAccount").into_iter().find(|a| a["id"] == "ACC-2003").unwrap();
    assert_eq!(acc["paymentPlan"].as_array().unwrap().len(), 1, "one plan however often it is asked: {acc}");
    assert_eq!(acc["paymentPlan"][0]["totalAmount"], json!({"unit": "EUR", "value": 60.0}));

    let faulty = c.run_service_test(&product("PRD-3006")).await.unwrap();
    assert_eq!(faulty.verdict, TestVerdict::Fail);
    assert!(faulty.measures.iter().any(|m| !m.ok));
    let fine = c.run_service_test(&product("PRD-3001")).await.unwrap();
    assert_eq!(fine.verdict, TestVerdict::Pass);
    assert!(matches!(c.run_service_test(&product("PRD-NOPE")).await, Err(BssError::NotFound { kind: "product", .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_bss_errors() {
    let s = standin().await;
    let c = client(&s, 50);
    let lucia = customer("CUST-1001");

    assert!(
        matches!(c.customer(&customer("CUST-0000")).await, Err(BssError::NotFound { kind: "customer", id }) if id == "CUST-0000")
    );

    s.set_faults(Faults { fail: true, ..Faults::default() });
    assert!(matches!(c.customer(&lucia).await, Err(BssError::Unavailable(_))));

    s.set_faults(Faults { malformed: true, ..Faults::default() });
    assert!(matches!(c.products(&lucia).await, Err(BssError::Malformed(_))));

    s.set_faults(Faults { oversized: true, ..Faults::default() });
    assert!(matches!(c.products(&lucia).await, Err(BssError::Malformed(m)) if m.contains("larger than")));

    s.set_faults(Faults { hang_up: true, ..Faults::default() });
    assert!(matches!(c.customer(&lucia).await, Err(BssError::Unavailable(_))));

    // Slower than the client's 400 ms timeout: unavailable, and promptly.
    s.set_faults(Faults { delay_ms: 3000, ..Faults::default() });
    let started = Instant::now();
    assert!(matches!(c.customer(&lucia).await, Err(BssError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_millis(1200), "took {:?}", started.elapsed());

    s.set_faults(Faults::default());
    // A wrong token: the billing system is not usable, said without the token.
    let mut config = TmfConfig::new(s.url.clone());
    config.token = Some(Token::new("wrong".into()));
    let wrong = TmfClient::new(config).unwrap();
    match wrong.customer(&lucia).await {
        Err(BssError::Unavailable(m)) => assert!(m.contains("401") && !m.contains("wrong"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Nothing listens: unavailable.
    let dead = TmfClient::new(TmfConfig::new("http://127.0.0.1:9")).unwrap();
    assert!(matches!(dead.customer(&lucia).await, Err(BssError::Unavailable(_))));

    // A resource that breaks the specification: a price that is not Money, an unknown status.
    let mut odd = s.resources("product").into_iter().find(|p| p["id"] == "PRD-3001").unwrap();
    odd["productPrice"][0]["price"]["taxIncludedAmount"]["value"] = json!("forty-five");
    s.put("product", odd);
    assert!(matches!(c.products(&lucia).await, Err(BssError::Malformed(_))));
    let mut odd = s.resources("customer").into_iter().find(|p| p["id"] == "CUST-1002").unwrap();
    odd["id"] = json!("CUST 1002 / bad");
    s.put("customer", odd);
    assert!(matches!(c.find_customers(&Lookup::Name("Javier".into()), 5).await, Err(BssError::Malformed(_))));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_repeated_failures() {
    let s = standin().await;
    let config = ResilienceConfig {
        retries: 0,
        breaker_failures: 3,
        breaker_open_for: Duration::from_millis(500),
        cache_ttl: Duration::ZERO,
        ..ResilienceConfig::default()
    };
    let bss = Resilient::new(Arc::new(client(&s, 50)), config);
    let lucia = customer("CUST-1001");
    s.set_faults(Faults { fail: true, ..Faults::default() });
    for _ in 0..3 {
        assert!(matches!(bss.customer(&lucia).await, Err(BssError::Unavailable(_))));
    }
    assert_eq!(bss.breaker_state(), BreakerState::Open);
    // Open: refused at once, without asking the billing system.
    s.clear_seen();
    let started = Instant::now();
    assert!(matches!(bss.customer(&lucia).await, Err(BssError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(s.seen().is_empty());
    // Healed: after the open time one probe goes through, and closes it.
    s.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(bss.customer(&lucia).await.unwrap().name, "Lucía Fernández Ruiz");
    assert_eq!(bss.breaker_state(), BreakerState::Closed);
}

both_backends!(the_hub_reads_billing_from_the_tmf_standin, the_hub_adjusts_a_bill_through_the_tmf_standin);

/// A hub configured with `[bss] kind = "tmf"` against `s`.
async fn tmf_hub(s: &TmfStandIn, backend: Backend) -> tests::TestApp {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.bss.kind = BssKind::Tmf;
    config.bss.base_url = format!("{}/tmf-api", s.url);
    config.bss.token = Some(Secret::from(TOKEN));
    config.bss.timeout_ms = 400;
    config.bss.budget_ms = 1500;
    spawn_app_with(config, db).await
}

/// The stand-in's bill `id`, as it keeps it.
fn standin_bill(s: &TmfStandIn, id: &str) -> serde_json::Value {
    s.resources("customerBill").into_iter().find(|b| b["id"] == id).unwrap()
}

/// The bill-adjustment workflow of the workspace with the billing system behind TMF: Ana credits
/// a line of Lucía's open bill within her limit (applied at once: a TMF678
/// `appliedBillingCredit` with the reason, the line and the hub's key lands in the stand-in and
/// lowers the bill), a retry with the same key credits nothing more, and an amount above her
/// limit waits for Bruno, whose approval applies it.
async fn the_hub_adjusts_a_bill_through_the_tmf_standin(backend: Backend) {
    let s = standin().await;
    let app = tmf_hub(&s, backend).await;
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let ana = app.login(ANA).await;
    let (conv, _ticket) = crate::care::assigned_conversation(&app, &store, "CUST-1001", &ana).await;

    let (status, bills) = app.get(&format!("/api/v1/conversations/{conv}/care/bills"), &ana).await;
    assert_eq!(status, 200, "{bills}");
    let bill_id = bills[0]["id"].as_str().unwrap().to_owned();
    assert!(bill_id.starts_with("BILL-2001-"), "{bills}");
    let (status, bill) = app.get(&format!("/api/v1/conversations/{conv}/care/bills/{bill_id}"), &ana).await;
    assert_eq!(status, 200, "{bill}");
    let items = bill["items"].as_array().unwrap();
    // Four lines before tax (the stand-in's `recurringCharge` rates) and the bill's `taxItem`.
    assert_eq!(items.len(), 5, "{bill}");
    assert!(items.iter().any(|i| i["kind"] == "tax" && i["adjustable"] == false), "{bill}");
    let fibre = items.iter().find(|i| i["product"] == "PRD-3001").unwrap();
    assert_eq!((fibre["amount"]["minor"].as_i64(), &fibre["adjustable"]), (Some(4500), &json!(true)), "{bill}");
    let item = fibre["id"].as_str().unwrap().to_owned();
    let unpaid = |s: &TmfStandIn| {
        let v = standin_bill(s, &bill_id)["remainingAmount"]["value"].clone();
        (v.as_f64().unwrap() * 100.0).round() as i64
    };
    let before = unpaid(&s);
    assert_eq!(before, bill["unpaid"]["minor"].as_i64().unwrap());

    // Within Ana's limit: applied at once, as a credit in the stand-in.
    let path = format!("/api/v1/conversations/{conv}/care/adjustments");
    let body =
        json!({"bill": bill_id, "item": item, "amount": "5.00", "reason": "billing_error", "note": "double charge"});
    let (status, applied) = crate::care::post_keyed(&app, &path, &ana, "tmf-adj-1", &body).await;
    assert_eq!(status, 201, "{applied}");
    assert_eq!(applied["state"], "applied", "{applied}");
    let rate_id = applied["result_ref"].as_str().unwrap().to_owned();
    let credit = s.resources("appliedCustomerBillingRate").into_iter().find(|r| r["id"] == rate_id.as_str()).unwrap();
    assert_eq!(credit["type"], "appliedBillingCredit", "{credit}");
    assert_eq!(credit["bill"]["id"], bill_id.as_str());
    assert_eq!(credit["taxIncludedAmount"], json!({"unit": "EUR", "value": -5.0}));
    let characteristic = |name: &str| {
        credit["characteristic"].as_array().unwrap().iter().find(|c| c["name"] == name).map(|c| c["value"].clone())
    };
    assert_eq!(characteristic("reasonCode"), Some(json!("billing_error")));
    assert_eq!(characteristic("adjustedItem"), Some(json!(item)));
    assert!(characteristic("externalId").is_some_and(|v| v.is_string()), "{credit}");
    assert_eq!(unpaid(&s), before - 500);

    // The same key again: the same request, no second credit.
    let (status, again) = crate::care::post_keyed(&app, &path, &ana, "tmf-adj-1", &body).await;
    assert_eq!((status, &again["id"]), (200, &applied["id"]), "{again}");
    let credits = |s: &TmfStandIn| {
        s.resources("appliedCustomerBillingRate").iter().filter(|r| r["type"] == "appliedBillingCredit").count()
    };
    assert_eq!((credits(&s), unpaid(&s)), (1, before - 500));

    // Above Ana's limit: pending, nothing sent; Bruno approves and it is applied.
    let over = json!({"bill": bill_id, "amount": "60.00", "reason": "service_outage", "note": "a week without fibre"});
    let (status, pending) = crate::care::post_keyed(&app, &path, &ana, "tmf-adj-2", &over).await;
    assert_eq!((status, &pending["state"]), (201, &json!("pending")), "{pending}");
    assert_eq!((credits(&s), unpaid(&s)), (1, before - 500));
    let bruno = app.login(BRUNO).await;
    let id = pending["id"].as_str().unwrap();
    let (status, approved) =
        app.post(&format!("/api/v1/care/approvals/{id}/approve"), &bruno, &json!({"note": "ok"})).await;
    assert_eq!((status, &approved["state"]), (201, &json!("applied")), "{approved}");
    assert_eq!((credits(&s), unpaid(&s)), (2, before - 6500));
    s.stop().await;
}

/// The hub configured with `[bss] kind = "tmf"` against the stand-in: a hub customer linked to a
/// stand-in customer gets the stand-in's data through `AppState.bss` (the resilient wrapper);
/// with the stand-in slow, then failing, the answer still comes within 2 s, marked
/// unavailable, and conversations go on.
async fn the_hub_reads_billing_from_the_tmf_standin(backend: Backend) {
    let s = standin().await;
    let app = tmf_hub(&s, backend).await;
    let state = app.hub.as_ref().unwrap().state.clone();
    assert_eq!(state.bss.name(), "tmf");

    // A web chat customer, linked to Lucía in the stand-in.
    let (visitor, conversation) = app.new_chat().await;
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let hub_customer = store.conversation(conversation.parse().unwrap()).await.unwrap().customer_id;
    store.set_customer_bss_id(hub_customer, Some("CUST-1001")).await.unwrap();
    let linked = store.customer_bss_id(hub_customer).await.unwrap().unwrap();
    let lucia = customer(&linked);

    let profile = state.bss.customer(&lucia).await.unwrap();
    assert_eq!((profile.name.as_str(), profile.segment.as_str()), ("Lucía Fernández Ruiz", "gold"));
    let accounts = state.bss.accounts(&lucia).await.unwrap();
    assert_eq!(state.bss.bills(&accounts[0].id, 1).await.unwrap().len(), 1);

    // The customer 360 an agent sees comes from the stand-in.
    let ana = app.login(ANA).await;
    let (status, body) = app.get(&format!("/api/v1/customers/{hub_customer}/account"), &ana).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["linked"].as_bool(), body["bss_customer_id"].as_str()), (Some(true), Some("CUST-1001")));
    assert_eq!(body["unavailable"], json!([]), "{body}");
    assert_eq!(body["customer"]["name"], "Lucía Fernández Ruiz");
    assert_eq!(body["customer"]["address"]["postcode"], "28012");
    assert_eq!(body["profile"]["tier"], "premium", "tier synced from the gold segment");
    assert_eq!(body["accounts"][0]["id"], "ACC-2001");
    assert_eq!(body["accounts"][0]["balance"]["currency"], "EUR");
    assert!(body["accounts"][0]["last_bill"]["id"].as_str().unwrap().starts_with("BILL-2001-"), "{body}");
    let products = body["products"].as_array().unwrap();
    assert_eq!(products.len(), 4);
    assert!(products.iter().any(|p| p["name"] == "Fibra 1 Gb" && p["recurring_price"]["minor"] == 4500), "{body}");
    assert!(s.seen().iter().all(|r| r.authorization.as_deref() == Some("Bearer tmf-test-token")));

    // A second chat's customer, linked to Carmen (in arrears), not read yet.
    let (_, second) = app.new_chat().await;
    let carmen_hub = store.conversation(second.parse().unwrap()).await.unwrap().customer_id;
    store.set_customer_bss_id(carmen_hub, Some("CUST-1003")).await.unwrap();
    let (_, body) = app.get(&format!("/api/v1/customers/{carmen_hub}/account"), &ana).await;
    assert_eq!(body["accounts"][0]["in_arrears"], true, "{body}");
    // Slow beyond the timeout: within 2 s the panel says unavailable, while the conversation
    // goes on.
    s.set_faults(Faults { delay_ms: 5000, ..Faults::default() });
    let other = customer("CUST-1004");
    let started = Instant::now();
    let (answer, (status, body), ack) = tokio::join!(
        state.bss.accounts(&other),
        async {
            // Not cached: the account read of another customer.
            store.set_customer_bss_id(carmen_hub, Some("CUST-1005")).await.unwrap();
            app.get(&format!("/api/v1/customers/{carmen_hub}/account"), &ana).await
        },
        async {
            let mut socket = app.customer_socket(&visitor, None).await;
            socket
                .send_json(&json!({"type": "message", "client_id": "c-1", "text": "¿Por qué me han cortado la fibra?"}))
                .await;
            socket.next_of("ack").await
        }
    );
    assert!(matches!(answer, Err(BssError::Unavailable(_))), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(status, 200, "{body}");
    assert!(!body["unavailable"].as_array().unwrap().is_empty(), "{body}");
    assert!(body["unavailable"].as_array().unwrap().iter().all(|u| u["code"] == "bss_unavailable"), "{body}");
    assert_eq!(ack["client_id"], "c-1", "{ack}");
    let carmen = customer("CUST-1003");
    // What was read a moment ago is still served from the cache.
    assert_eq!(state.bss.products(&lucia).await.unwrap().len(), 4);

    // Failing: the breaker opens and calls fail at once.
    s.set_faults(Faults { fail: true, ..Faults::default() });
    for _ in 0..6 {
        let started = Instant::now();
        assert!(matches!(state.bss.orders(&carmen, 5).await, Err(BssError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    s.clear_seen();
    assert!(matches!(state.bss.orders(&carmen, 5).await, Err(BssError::Unavailable(_))));
    assert!(s.seen().is_empty(), "the open breaker does not call the billing system");
    s.stop().await;
}
