//! The billing system behind the hub (`[bss]`, the embedded BSS by default): the demo accounts
//! `serve --demo` seeds and links to demo customers (once, however often the hub restarts), the
//! test fixture other modules use, and the embedded BSS's writes on both stores.

use ::bss::embedded::Profile;
use ::bss::{
    AccountRef, BillItemKind, BssError, CustomerRef, Money, NewAdjustment, NewOrder, OrderAction, OrderItem,
    ProductStatus,
};
use schema::{CustomerTier, Store, StoreOptions};
use tests::{Backend, TestDb, both_backends, spawn_app, spawn_app_with, test_config};

both_backends!(the_demo_accounts_are_seeded_once_and_linked, the_embedded_bss_writes_once_on_this_store);

async fn the_demo_accounts_are_seeded_once_and_linked(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = test_config(&db);
    let mut app = spawn_app_with(config.clone(), db).await;
    let state = app.hub.as_ref().unwrap().state.clone();
    let lucia = CustomerRef::parse("CUST-1001").unwrap();
    let linked = state.core.store.customer_by_bss_id("CUST-1001").await.unwrap().expect("linked");
    let customer = state.core.store.customer(linked).await.unwrap();
    assert_eq!(customer.name.as_ref().map(|n| n.as_str().to_owned()).as_deref(), Some("Lucía Fernández"));
    assert_eq!(customer.tier, CustomerTier::Premium, "gold segment");
    let products = state.bss.products(&lucia).await.unwrap();
    assert_eq!(products.len(), 5);
    assert!(products.iter().any(|p| p.early_termination_fee.is_some_and(|f| f.minor > 0)));
    let arrears = state.bss.accounts(&CustomerRef::parse("CUST-1002").unwrap()).await.unwrap();
    assert!(arrears[0].overdue.minor > 0);
    for id in ["CUST-1003", "CUST-1004", "CUST-1005"] {
        assert!(state.core.store.customer_by_bss_id(id).await.unwrap().is_some(), "{id}");
    }
    drop(state);

    // Restarted on the same database: nothing doubles.
    app.stop().await;
    let tests::TestApp { db, .. } = app;
    let app = spawn_app_with(config, db).await;
    let state = app.hub.as_ref().unwrap().state.clone();
    assert_eq!(state.core.store.customer_by_bss_id("CUST-1001").await.unwrap(), Some(linked));
    assert_eq!(state.bss.products(&lucia).await.unwrap().len(), 5);
    assert_eq!(state.bss.bills(&AccountRef::parse("CUST-1001-A1").unwrap(), 50).await.unwrap().len(), 4);
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 1, ..StoreOptions::default() }).await.unwrap();
    assert_eq!(store.find_customers("Lucía", 10).await.unwrap().len(), 1);
}

async fn the_embedded_bss_writes_once_on_this_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let linked = tests::bss::seed_linked_customer(&app, "Marta Prueba", Profile::Family).await;
    assert_eq!(tests::bss::find_by_email(&app, &linked.email).await, vec![linked.seeded.customer.clone()]);
    let bss = app.hub.as_ref().unwrap().state.bss.clone();
    let s = &linked.seeded;
    let bill = bss.bill(&s.bills[0]).await.unwrap();
    let item = bill.items.iter().find(|i| i.adjustable).unwrap().clone();
    let adjustment = NewAdjustment {
        account: s.account.clone(),
        bill: bill.id.clone(),
        item: Some(item.id.clone()),
        amount: Money::new(150, item.amount.currency),
        reason: "goodwill".into(),
        external_id: "e2e-adj-1".into(),
        note: "e2e".into(),
    };
    let balance_before = bss.accounts(&s.customer).await.unwrap()[0].balance;
    // Twice at once: applied once.
    let (a, b) = tokio::join!(bss.adjust(&adjustment), bss.adjust(&adjustment));
    assert_eq!(a.unwrap(), b.unwrap());
    let after = bss.bill(&bill.id).await.unwrap();
    assert_eq!(after.items.iter().filter(|i| i.kind == BillItemKind::Adjustment).count(), 1);
    assert_eq!(after.unpaid.minor, bill.unpaid.minor - 150);
    // The cached account was dropped by the write.
    assert_eq!(bss.accounts(&s.customer).await.unwrap()[0].balance.minor, balance_before.minor - 150);

    let order = NewOrder {
        customer: s.customer.clone(),
        account: s.account.clone(),
        items: vec![OrderItem {
            action: OrderAction::Delete,
            product: Some(s.products[2].clone()),
            offering: None,
            requested_date: None,
            reason: Some("moving_abroad".into()),
        }],
        external_id: "e2e-order-1".into(),
        note: "e2e".into(),
    };
    let (a, b) = tokio::join!(bss.place_order(&order), bss.place_order(&order));
    assert_eq!(a.unwrap(), b.unwrap());
    let products = bss.products(&s.customer).await.unwrap();
    assert_eq!(products.iter().find(|p| p.id == s.products[2]).unwrap().status, ProductStatus::Terminated);
    assert_eq!(bss.orders(&s.customer, 10).await.unwrap().len(), 1);
    // Someone else's bill through this account: not found, nothing written.
    let other = tests::bss::seed_linked_customer(&app, "Otro Cliente", Profile::Mobile).await;
    let foreign = NewAdjustment {
        bill: other.seeded.bills[0].clone(),
        item: None,
        external_id: "e2e-adj-2".into(),
        ..adjustment
    };
    assert!(matches!(bss.adjust(&foreign).await, Err(BssError::NotFound { .. })));
}

mod api {
    use std::time::{Duration, Instant};

    use ::bss::embedded::Profile;
    use schema::{Channel, ContactHandle, CustomerTier, Language, NewCustomer};
    use serde_json::Value;
    use tests::bss::seed_linked_customer;
    use tests::{ANA, BRUNO, Backend, TINA, both_backends, spawn_app};

    both_backends!(
        the_360_answers_accounts_products_and_last_bills,
        bills_and_usage_are_the_customers_own,
        a_failing_billing_system_leaves_the_rest_of_the_answer
    );

    async fn the_360_answers_accounts_products_and_last_bills(backend: Backend) {
        let app = spawn_app(backend).await;
        let ana = app.login(ANA).await;
        let marta = seed_linked_customer(&app, "Marta Prueba", Profile::Family).await;
        let path = format!("/api/v1/customers/{}/account", marta.customer_id);
        let (status, body) = app.get(&path, &ana).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["linked"], true);
        assert_eq!(body["bss_customer_id"], marta.seeded.customer.as_str());
        assert_eq!(body["unavailable"], serde_json::json!([]));
        assert_eq!(body["customer"]["segment"], "gold");
        assert_eq!(body["customer"]["address"]["postcode"], "28013");
        // The tier follows the BSS segment, in the answer and in the store.
        assert_eq!(body["profile"]["tier"], "premium");
        let store = &app.hub.as_ref().unwrap().state.core.store;
        assert_eq!(store.customer(marta.customer_id).await.unwrap().tier, CustomerTier::Premium);
        let accounts = body["accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0]["id"], marta.seeded.account.as_str());
        assert_eq!(accounts[0]["in_arrears"], false);
        assert_eq!(accounts[0]["balance"]["currency"], "EUR");
        let last = &accounts[0]["last_bill"];
        assert_eq!(last["id"], marta.seeded.bills[0].as_str());
        assert_eq!(last["items"], serde_json::json!([]), "no items in the overview");
        assert_eq!(body["products"].as_array().unwrap().len(), 5);

        // A supervisor may read it; a trainer may not.
        let bruno = app.login(BRUNO).await;
        assert_eq!(app.get(&path, &bruno).await.0, 200);
        let tina = app.login(TINA).await;
        assert_eq!(app.get(&path, &tina).await.0, 403);

        // In arrears: flagged.
        let javier = seed_linked_customer(&app, "Javier Prueba", Profile::Arrears).await;
        let (_, body) = app.get(&format!("/api/v1/customers/{}/account", javier.customer_id), &ana).await;
        assert_eq!(body["accounts"][0]["in_arrears"], true);
        assert!(body["accounts"][0]["overdue"]["minor"].as_i64().unwrap() > 0);

        // Not linked: said so, with the hub's profile.
        let (plain, _) = store
            .create_customer_with_conversation(
                NewCustomer {
                    name: Some("Sin Cuenta".parse().unwrap()),
                    email: None,
                    language: Language::Es,
                    tier: CustomerTier::Standard,
                    handles: vec![ContactHandle { channel: Channel::Email, handle: "sin.cuenta@example.com".into() }],
                },
                Channel::Email,
                schema::ConversationStatus::Queued,
            )
            .await
            .unwrap();
        let (status, body) = app.get(&format!("/api/v1/customers/{}/account", plain.id), &ana).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["linked"].as_bool(), body["profile"]["name"].as_str()), (Some(false), Some("Sin Cuenta")));
        assert!(body["accounts"].is_null());
        let (status, body) = app.get(&format!("/api/v1/customers/{}/bills", plain.id), &ana).await;
        assert_eq!(status, 404, "{body}");
        // An unknown customer.
        let (status, _) = app.get(&format!("/api/v1/customers/{}/account", uuid_like()), &ana).await;
        assert_eq!(status, 404);

        // Each read is in the audit trail.
        let filter = schema::AuditFilter {
            action: Some(schema::AuditAction::CustomerBillingRead),
            target_id: Some(marta.customer_id.to_string()),
            ..Default::default()
        };
        let entries = store.audit_entries(&filter, schema::AuditPosition::NewestBefore(None), 50).await.unwrap();
        assert!(!entries.is_empty());
    }

    fn uuid_like() -> String {
        "00000000-0000-7000-8000-000000000000".to_owned()
    }

    async fn bills_and_usage_are_the_customers_own(backend: Backend) {
        let app = spawn_app(backend).await;
        let ana = app.login(ANA).await;
        let marta = seed_linked_customer(&app, "Marta Prueba", Profile::Family).await;
        let other = seed_linked_customer(&app, "Otra Persona", Profile::Mobile).await;
        let base = format!("/api/v1/customers/{}", marta.customer_id);

        let (status, bills) = app.get(&format!("{base}/bills"), &ana).await;
        assert_eq!(status, 200, "{bills}");
        let ids: Vec<&str> = bills.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
        assert_eq!(ids, marta.seeded.bills.iter().map(|b| b.as_str()).collect::<Vec<_>>());
        let (status, two) = app.get(&format!("{base}/bills?account={}&limit=2", marta.seeded.account), &ana).await;
        assert_eq!((status, two.as_array().map(Vec::len)), (200, Some(2)));
        // Someone else's account: 404, as an unknown one.
        let (status, _) = app.get(&format!("{base}/bills?account={}", other.seeded.account), &ana).await;
        assert_eq!(status, 404);
        assert_eq!(app.get(&format!("{base}/bills?limit=0"), &ana).await.0, 422);

        let (status, bill) = app.get(&format!("{base}/bills/{}", marta.seeded.bills[0]), &ana).await;
        assert_eq!(status, 200, "{bill}");
        let items = bill["items"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
        for k in ["recurring", "usage", "discount", "tax"] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
        let sum: i64 = items.iter().map(|i| i["amount"]["minor"].as_i64().unwrap()).sum();
        assert_eq!(sum, bill["total"]["minor"].as_i64().unwrap());

        // IDOR: another customer's bill through this customer is 404, the same as none.
        let (status, body) = app.get(&format!("{base}/bills/{}", other.seeded.bills[0]), &ana).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
        let (status, _) = app.get(&format!("{base}/bills/NO-SUCH-BILL"), &ana).await;
        assert_eq!(status, 404);
        assert_eq!(app.get(&format!("{base}/bills/bad%20ref"), &ana).await.0, 422);

        // Usage of a mobile line: meters with the allowance.
        let mobile = &marta.seeded.products[0];
        let (status, usage) = app.get(&format!("{base}/products/{mobile}/usage"), &ana).await;
        assert_eq!(status, 200, "{usage}");
        let data = usage["meters"].as_array().unwrap().iter().find(|m| m["kind"] == "data").unwrap();
        assert!(data["allowance"].as_u64().unwrap() >= data["used"].as_u64().unwrap());
        let (status, _) = app.get(&format!("{base}/products/{}/usage", other.seeded.products[0]), &ana).await;
        assert_eq!(status, 404);
    }

    async fn a_failing_billing_system_leaves_the_rest_of_the_answer(backend: Backend) {
        let app = spawn_app(backend).await;
        let ana = app.login(ANA).await;
        let marta = seed_linked_customer(&app, "Marta Prueba", Profile::Family).await;
        // The embedded BSS's records vanish: every call fails (as an unreachable BSS would).
        break_the_bss(&app).await;
        let started = Instant::now();
        let (status, body) = app.get(&format!("/api/v1/customers/{}/account", marta.customer_id), &ana).await;
        let took = started.elapsed();
        assert_eq!(status, 200, "{body}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(body["linked"], true);
        assert_eq!(body["profile"]["name"], "Marta Prueba", "the conversation side is intact");
        let sections: Vec<&str> =
            body["unavailable"].as_array().unwrap().iter().map(|u| u["section"].as_str().unwrap()).collect();
        for s in ["customer", "accounts", "products", "bills"] {
            assert!(sections.contains(&s), "{s} in {sections:?}");
        }
        assert!(body["unavailable"].as_array().unwrap().iter().all(|u| u["code"] == "bss_unavailable"), "{body}");
        assert!(body["accounts"].is_null() && body["customer"].is_null());
        // The lists answer 503 bss_unavailable, quickly too.
        let started = Instant::now();
        let (status, body): (u16, Value) =
            app.get(&format!("/api/v1/customers/{}/bills", marta.customer_id), &ana).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bss_unavailable")), "{body}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// Drops the embedded BSS's table behind the hub's back.
    async fn break_the_bss(app: &tests::TestApp) {
        use sqlx::Connection as _;
        if app.db.url.starts_with("sqlite://") {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query("DROP TABLE bss_records").execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query("DROP TABLE bss_records").execute(&mut conn).await.unwrap();
        }
    }
}
