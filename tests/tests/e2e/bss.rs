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
