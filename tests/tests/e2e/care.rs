//! The customer-care workflows end to end, against the embedded billing system: a new service
//! (catalogue, eligibility, an installation date; an address out of coverage refused with nothing
//! written), a plan change and an add-on, bill adjustments (within the agent's limit applied at
//! once, above it pending until a supervisor approves, which lowers the bill, or rejects with a
//! note; idempotent by key; bad amounts, reasons and another customer's bill refused, nothing
//! written; step-up required), and a discontinued service (early-termination fee, retention offer
//! accepted or declined, the marketing-consent answer). Each lands on the conversation's timeline
//! (its ticket's events) and in the audit trail; only the assignee or a supervisor acts.

use bss::embedded::{CustomerSeed, Embedded, Profile, SeededCustomer};
use bss::{BillRef, Bss as _, CustomerRef};
use schema::{
    Actor, Channel, ConversationChange, ConversationStatus, CustomerTier, Language, NewCustomer, Store, StoreOptions,
    Ticket, TicketEvent, TicketStatus,
};
use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, OTTO, PASSWORD, TestApp, TestDb, both_backends, spawn_app_with, test_config};
use time::OffsetDateTime;

both_backends!(
    new_and_modified_services_are_ordered,
    adjustments_apply_within_the_limit_and_wait_for_a_supervisor_above_it,
    an_approval_above_the_approvers_own_limit_is_refused,
    bad_adjustments_are_refused_and_write_nothing,
    a_discontinued_service_records_retention_and_consent,
    adjustments_need_a_fresh_sign_in
);

/// A customer of the hub with an open web chat conversation held by `assignee` (with its
/// ticket), linked to a billing customer seeded with `profile` at `postcode`.
struct Customer {
    conversation: String,
    ticket: String,
    seeded: SeededCustomer,
}

struct Fixture {
    app: TestApp,
    store: Store,
    bss: Embedded,
    ana: String,
    bruno: String,
    admin: String,
}

async fn fixture(backend: Backend, tweak: impl FnOnce(&mut hub::Config)) -> Fixture {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    let app = spawn_app_with(config, db).await;
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let bss = Embedded::new(store.clone());
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;
    let admin = app.login(ADMIN).await;
    Fixture { app, store, bss, ana, bruno, admin }
}

/// A hub customer linked to the billing customer `bss_ref`, with an open web chat conversation
/// held by the agent signed in with the token `assignee`, and its ticket (whose events are the
/// timeline): (conversation, ticket).
pub(crate) async fn assigned_conversation(
    app: &TestApp,
    store: &Store,
    bss_ref: &str,
    assignee: &str,
) -> (String, String) {
    let (customer, conversation) = store
        .create_customer_with_conversation(
            NewCustomer {
                name: Some(format!("Care {bss_ref}").parse().unwrap()),
                email: None,
                language: Language::Es,
                tier: CustomerTier::Standard,
                handles: Vec::new(),
            },
            Channel::WebChat,
            ConversationStatus::Queued,
        )
        .await
        .unwrap();
    store.set_customer_bss_id(customer.id, Some(bss_ref)).await.unwrap();
    let agent: schema::AgentId = app.me(assignee).await.parse().unwrap();
    let now = OffsetDateTime::now_utc();
    let ticket = Ticket {
        status: TicketStatus::Assigned,
        assignee_id: Some(agent),
        ..tests::queued_ticket(conversation.id, "general", now)
    };
    let event = TicketEvent {
        ticket_id: ticket.id,
        actor: Actor::System,
        kind: "created".into(),
        detail: Value::Null,
        at: now,
    };
    let change = ConversationChange { status: ConversationStatus::Assigned, assignee_id: Some(agent) };
    store.create_ticket(&ticket, &event, change).await.unwrap();
    (conversation.id.to_string(), ticket.id.to_string())
}

/// A POST with an `Idempotency-Key`: (status, body).
pub(crate) async fn post_keyed(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let res =
        app.http.post(app.url(path)).bearer_auth(token).header("Idempotency-Key", key).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

impl Fixture {
    async fn customer(&self, bss_ref: &str, profile: Profile, postcode: &str, assignee: &str) -> Customer {
        let mut seed = CustomerSeed::new(CustomerRef::parse(bss_ref).unwrap(), &format!("Care {bss_ref}"), profile);
        seed.postcode = postcode.to_owned();
        let seeded = self.bss.seed_customer(&seed, OffsetDateTime::now_utc().date()).await.unwrap();
        let (conversation, ticket) = assigned_conversation(&self.app, &self.store, bss_ref, assignee).await;
        Customer { conversation, ticket, seeded }
    }

    async fn post_keyed(&self, path: &str, token: &str, key: &str, body: &Value) -> (u16, Value) {
        post_keyed(&self.app, path, token, key, body).await
    }

    /// The kinds of the ticket's events, in order.
    async fn timeline(&self, customer: &Customer) -> Vec<Value> {
        let (status, detail) = self.app.get(&format!("/api/v1/tickets/{}", customer.ticket), &self.bruno).await;
        assert_eq!(status, 200, "{detail}");
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().starts_with("care."))
            .cloned()
            .collect()
    }

    async fn audit(&self, action: &str) -> Vec<Value> {
        let otto = self.app.login(OTTO).await;
        let (status, page) = self.app.get(&format!("/api/v1/audit?action={action}"), &otto).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    async fn requests(&self, customer: &Customer) -> Vec<Value> {
        let (status, list) =
            self.app.get(&format!("/api/v1/conversations/{}/care/requests", customer.conversation), &self.bruno).await;
        assert_eq!(status, 200, "{list}");
        list.as_array().unwrap().clone()
    }

    /// The bill as the billing system has it now (not through the hub's cache).
    async fn bill(&self, id: &BillRef) -> bss::Bill {
        self.bss.bill(id).await.unwrap()
    }
}

fn code(body: &Value) -> (&str, &str) {
    (body["error"]["code"].as_str().unwrap_or(""), body["error"]["field"].as_str().unwrap_or(""))
}

async fn new_and_modified_services_are_ordered(backend: Backend) {
    let f = fixture(backend, |_| {}).await;
    let lucia = f.customer("CARE-N1", Profile::Family, "28013", &f.ana).await;
    let conv = &lucia.conversation;

    // The catalogue with prices and the customer's account.
    let (status, catalogue) = f.app.get(&format!("/api/v1/conversations/{conv}/care/catalogue"), &f.ana).await;
    assert_eq!(status, 200, "{catalogue}");
    let fibre = catalogue["offerings"].as_array().unwrap().iter().find(|o| o["id"] == "fibre-1g").unwrap();
    assert_eq!(fibre["recurring_price"], json!({"minor": 4800, "currency": "EUR"}));
    assert_eq!(catalogue["accounts"], json!([lucia.seeded.account.as_str()]));

    // Eligible at 28013, with installation dates.
    let (status, eligibility) =
        f.app.get(&format!("/api/v1/conversations/{conv}/care/eligibility?offering=fibre-1g"), &f.ana).await;
    assert_eq!(status, 200, "{eligibility}");
    assert_eq!(eligibility["eligible"], true);
    let date = eligibility["installation_dates"][0].as_str().unwrap().to_owned();

    // A date not offered is refused; the first offered one is ordered.
    let path = format!("/api/v1/conversations/{conv}/care/new-service");
    let (status, body) =
        f.post_keyed(&path, &f.ana, "ns-0", &json!({"offering": "fibre-1g", "installation_date": "2001-01-01"})).await;
    assert_eq!((status, code(&body)), (422, ("invalid_field", "installation_date")), "{body}");
    let order = json!({"offering": "fibre-1g", "installation_date": date, "note": "second line at home"});
    let (status, placed) = f.post_keyed(&path, &f.ana, "ns-1", &order).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["kind"], "new_service");
    assert_eq!(placed["state"], "applied");
    let order_id = placed["result_ref"].as_str().unwrap().to_owned();
    assert!(order_id.starts_with("ORD"), "{placed}");
    // The same key again: the same submission, no second order.
    let (status, again) = f.post_keyed(&path, &f.ana, "ns-1", &order).await;
    assert_eq!((status, &again["id"], &again["result_ref"]), (200, &placed["id"], &placed["result_ref"]));
    let orders = f.bss.orders(&lucia.seeded.customer, 50).await.unwrap();
    assert_eq!(orders.iter().filter(|o| o.external_id.as_deref() == placed["id"].as_str()).count(), 1);

    // Out of coverage: refused by the billing system's eligibility, nothing written.
    let carmen = f.customer("CARE-N2", Profile::Mobile, "28050", &f.ana).await;
    let (status, body) = f
        .post_keyed(
            &format!("/api/v1/conversations/{}/care/new-service", carmen.conversation),
            &f.ana,
            "ns-2",
            &json!({"offering": "fibre-300", "installation_date": date}),
        )
        .await;
    assert_eq!((status, code(&body).0), (422, "bss_rejected"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot be provided"), "{body}");
    assert!(f.requests(&carmen).await.is_empty(), "nothing stored");
    assert!(f.bss.orders(&carmen.seeded.customer, 50).await.unwrap().is_empty(), "nothing ordered");

    // Modify: the allowed changes of each active product, with the price difference.
    let (status, changes) = f.app.get(&format!("/api/v1/conversations/{conv}/care/changes"), &f.ana).await;
    assert_eq!(status, 200, "{changes}");
    let mobile = changes.as_array().unwrap().iter().find(|p| p["product"]["offering"] == "mobile-50").unwrap();
    let upgrade =
        mobile["changes"].as_array().unwrap().iter().find(|c| c["offering"]["id"] == "mobile-unlimited").unwrap();
    assert_eq!(upgrade["kind"], "upgrade");
    assert_eq!(upgrade["price_difference"], json!({"minor": 1000, "currency": "EUR"}));
    assert!(upgrade["effective_date"].is_string());
    let product = mobile["product"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conv}/care/modify-service");
    let (status, body) =
        f.post_keyed(&path, &f.ana, "mod-0", &json!({"product": product, "offering": "fibre-1g"})).await;
    assert_eq!((status, code(&body)), (422, ("invalid_field", "offering")), "{body}");
    let (status, modified) =
        f.post_keyed(&path, &f.ana, "mod-1", &json!({"product": product, "offering": "mobile-unlimited"})).await;
    assert_eq!((status, &modified["state"]), (201, &json!("applied")), "{modified}");
    assert_eq!(modified["amount"], json!({"minor": 1000, "currency": "EUR"}));
    let products = f.bss.products(&lucia.seeded.customer).await.unwrap();
    assert_eq!(products.iter().find(|p| p.id.as_str() == product).unwrap().offering.as_str(), "mobile-unlimited");
    // An add-on: an add order attached to the product.
    let (status, addon) =
        f.post_keyed(&path, &f.ana, "mod-2", &json!({"product": product, "offering": "addon-data-10"})).await;
    assert_eq!((status, &addon["state"]), (201, &json!("applied")), "{addon}");
    // Another customer's product is not found.
    let other = carmen.seeded.products[0].as_str();
    let (status, body) =
        f.post_keyed(&path, &f.ana, "mod-3", &json!({"product": other, "offering": "mobile-10"})).await;
    assert_eq!(status, 404, "{body}");

    // On the timeline and in the audit trail.
    let kinds: Vec<String> = f.timeline(&lucia).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["care.new_service", "care.modify_service", "care.modify_service"], "{kinds:?}");
    let ordered = f.audit("care.service_ordered").await;
    assert_eq!(ordered.len(), 1, "one entry, the replay adds none");
    assert_eq!(ordered[0]["details"]["result_ref"], order_id.as_str());
    assert_eq!(f.audit("care.service_modified").await.len(), 2);

    // Only the assignee or a supervisor: Ana cannot act on Bruno's conversation; Bruno can on hers.
    let brunos = f.customer("CARE-N3", Profile::Mobile, "28013", &f.bruno).await;
    let (status, _) = f.app.get(&format!("/api/v1/conversations/{}/care/catalogue", brunos.conversation), &f.ana).await;
    assert_eq!(status, 403);
    let (status, _) = f.app.get(&format!("/api/v1/conversations/{conv}/care/catalogue"), &f.bruno).await;
    assert_eq!(status, 200);
}

/// The open bill and its largest adjustable item: (bill, item id, item amount in cents).
async fn open_bill(f: &Fixture, c: &Customer, token: &str) -> (Value, String, i64) {
    let bill = c.seeded.bills[0].as_str();
    let (status, bill) = f.app.get(&format!("/api/v1/conversations/{}/care/bills/{bill}", c.conversation), token).await;
    assert_eq!(status, 200, "{bill}");
    let item = bill["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["adjustable"] == true)
        .max_by_key(|i| i["amount"]["minor"].as_i64().unwrap())
        .unwrap()
        .clone();
    (bill.clone(), item["id"].as_str().unwrap().to_owned(), item["amount"]["minor"].as_i64().unwrap())
}

async fn adjustments_apply_within_the_limit_and_wait_for_a_supervisor_above_it(backend: Backend) {
    let f = fixture(backend, |_| {}).await;
    let lucia = f.customer("CARE-A1", Profile::Family, "28013", &f.ana).await;
    let conv = &lucia.conversation;
    let bill_ref = lucia.seeded.bills[0].clone();

    // The forms' options: reasons with labels, Ana's limit.
    let (status, options) = f.app.get("/api/v1/care/options", &f.ana).await;
    assert_eq!(status, 200, "{options}");
    assert!(options["adjustment_reasons"].as_array().unwrap().iter().any(|r| r["code"] == "billing_error"));
    assert_eq!(options["adjustment_limits"], json!([{"minor": 5000, "currency": "EUR"}]));
    let (status, bills) = f.app.get(&format!("/api/v1/conversations/{conv}/care/bills"), &f.ana).await;
    assert_eq!(status, 200, "{bills}");
    assert_eq!(bills[0]["id"], bill_ref.as_str());

    let (bill, item, _) = open_bill(&f, &lucia, &f.ana).await;
    let unpaid = bill["unpaid"]["minor"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{conv}/care/adjustments");

    // Within Ana's limit: applied at once, the bill's unpaid lowers.
    let body = json!({"bill": bill_ref.as_str(), "item": item, "amount": "5.00", "reason": "billing_error", "note": "double charge"});
    let (status, applied) = f.post_keyed(&path, &f.ana, "adj-1", &body).await;
    assert_eq!(status, 201, "{applied}");
    assert_eq!(applied["state"], "applied");
    assert_eq!(applied["amount"], json!({"minor": 500, "currency": "EUR"}));
    assert!(applied["result_ref"].is_string());
    assert_eq!(f.bill(&bill_ref).await.unpaid.minor, unpaid - 500);
    // Retried with the same key: the same request, the bill is not credited twice.
    let (status, again) = f.post_keyed(&path, &f.ana, "adj-1", &body).await;
    assert_eq!((status, &again["id"]), (200, &applied["id"]), "{again}");
    assert_eq!(f.bill(&bill_ref).await.unpaid.minor, unpaid - 500);

    // Over the limit (60.00 on the whole bill): pending, the bill unchanged.
    let over = json!({"bill": bill_ref.as_str(), "amount": "60.00", "reason": "service_outage", "note": "a week without fibre"});
    let (status, pending) = f.post_keyed(&path, &f.ana, "adj-2", &over).await;
    assert_eq!((status, &pending["state"]), (201, &json!("pending")), "{pending}");
    assert_eq!(f.bill(&bill_ref).await.unpaid.minor, unpaid - 500);
    let id = pending["id"].as_str().unwrap().to_owned();

    // The supervisor's queue has it; an agent may not see the queue.
    let (status, _) = f.app.get("/api/v1/care/approvals?state=pending", &f.ana).await;
    assert_eq!(status, 403);
    let (status, queue) = f.app.get("/api/v1/care/approvals?state=pending", &f.bruno).await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect::<Vec<_>>(), [id.as_str()]);
    assert_eq!(queue[0]["reason"], "service_outage");

    // Bruno approves: applied to the bill.
    let (status, approved) =
        f.app.post(&format!("/api/v1/care/approvals/{id}/approve"), &f.bruno, &json!({"note": "ok"})).await;
    assert_eq!(status, 201, "{approved}");
    assert_eq!(approved["state"], "applied");
    assert_eq!(approved["decision_note"], "ok");
    assert_eq!(f.bill(&bill_ref).await.unpaid.minor, unpaid - 500 - 6000);
    // Deciding again is a conflict.
    let (status, _) = f.app.post(&format!("/api/v1/care/approvals/{id}/approve"), &f.bruno, &json!({})).await;
    assert_eq!(status, 409);

    // Another over the limit, rejected with a note (a note is required).
    let (status, second) = f
        .post_keyed(&path, &f.ana, "adj-3", &json!({"bill": bill_ref.as_str(), "amount": "55", "reason": "goodwill"}))
        .await;
    assert_eq!((status, &second["state"]), (201, &json!("pending")), "{second}");
    let second_id = second["id"].as_str().unwrap().to_owned();
    let (status, body) = f.app.post(&format!("/api/v1/care/approvals/{second_id}/reject"), &f.admin, &json!({})).await;
    assert_eq!((status, code(&body)), (422, ("invalid_field", "note")), "{body}");
    let (status, rejected) = f
        .app
        .post(
            &format!("/api/v1/care/approvals/{second_id}/reject"),
            &f.admin,
            &json!({"note": "goodwill is capped at 20 EUR"}),
        )
        .await;
    assert_eq!(status, 201, "{rejected}");
    assert_eq!(
        (&rejected["state"], &rejected["decision_note"]),
        (&json!("rejected"), &json!("goodwill is capped at 20 EUR"))
    );
    assert_eq!(f.bill(&bill_ref).await.unpaid.minor, unpaid - 6500, "a rejection credits nothing");

    // The timeline: applied, pending, approved, applied, pending, rejected.
    let states: Vec<String> =
        f.timeline(&lucia).await.iter().map(|e| e["detail"]["state"].as_str().unwrap().to_owned()).collect();
    assert_eq!(states, ["applied", "pending", "approved", "applied", "pending", "rejected"]);
    // The audit trail: three requests, one approval, one rejection.
    assert_eq!(f.audit("care.adjustment_requested").await.len(), 3);
    assert_eq!(f.audit("care.adjustment_approved").await.len(), 1);
    let rejections = f.audit("care.adjustment_rejected").await;
    assert_eq!(rejections.len(), 1);

    // The report: every adjustment by agent and reason, with totals per currency.
    let ana_id = f.app.me(&f.ana).await;
    let (status, report) = f.app.get(&format!("/api/v1/care/adjustments?agent={ana_id}"), &f.bruno).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["adjustments"].as_array().unwrap().len(), 3);
    assert_eq!(report["adjustments"][0]["agent_name"], "Ana Agent");
    assert_eq!(
        report["totals"],
        json!([{"currency": "EUR", "applied_count": 2, "applied": {"minor": 6500, "currency": "EUR"}, "pending_count": 0, "pending": {"minor": 0, "currency": "EUR"}}])
    );
    let (status, report) = f.app.get("/api/v1/care/adjustments?reason=goodwill&state=rejected", &f.bruno).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["adjustments"].as_array().unwrap().len(), 1);
    let (status, _) = f.app.get("/api/v1/care/adjustments?from=yesterday", &f.bruno).await;
    assert_eq!(status, 422);
    let (status, _) = f.app.get("/api/v1/care/adjustments", &f.ana).await;
    assert_eq!(status, 403);

    // Nobody approves their own request: the admin (roles admin and agent, so the agent's limit
    // of 50.00) asks for 55.00, which waits; the admin may approve others' but not this one;
    // Bruno can.
    let admins = f.customer("CARE-A2", Profile::Family, "28013", &f.admin).await;
    let (status, own) = f
        .post_keyed(
            &format!("/api/v1/conversations/{}/care/adjustments", admins.conversation),
            &f.admin,
            "adj-own",
            &json!({"bill": admins.seeded.bills[0].as_str(), "amount": "55.00", "reason": "goodwill"}),
        )
        .await;
    assert_eq!((status, &own["state"]), (201, &json!("pending")), "{own}");
    let own_id = own["id"].as_str().unwrap();
    let (status, body) = f.app.post(&format!("/api/v1/care/approvals/{own_id}/approve"), &f.admin, &json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = f.app.post(&format!("/api/v1/care/approvals/{own_id}/approve"), &f.bruno, &json!({})).await;
    assert_eq!((status, &body["state"]), (201, &json!("applied")), "{body}");
}

async fn an_approval_above_the_approvers_own_limit_is_refused(backend: Backend) {
    let f = fixture(backend, |c| {
        let eur = |amount: &str| std::collections::BTreeMap::from([("EUR".to_owned(), amount.to_owned())]);
        c.care.adjustment_limits = std::collections::BTreeMap::from([
            ("agent".to_owned(), eur("5.00")),
            ("supervisor".to_owned(), eur("20.00")),
        ]);
    })
    .await;
    let lucia = f.customer("CARE-L1", Profile::Family, "28013", &f.ana).await;
    let path = format!("/api/v1/conversations/{}/care/adjustments", lucia.conversation);
    let bill = lucia.seeded.bills[0].as_str();
    let big = json!({"bill": bill, "amount": "30.00", "reason": "goodwill"});
    let (status, pending) = f.post_keyed(&path, &f.ana, "adj-big", &big).await;
    assert_eq!((status, &pending["state"]), (201, &json!("pending")), "{pending}");
    let big_id = pending["id"].as_str().unwrap().to_owned();
    // Bruno's limit (20.00) does not cover 30.00: refused, the request still waits.
    let (status, body) = f.app.post(&format!("/api/v1/care/approvals/{big_id}/approve"), &f.bruno, &json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("approval limit"), "{body}");
    let (_, queue) = f.app.get("/api/v1/care/approvals?state=pending", &f.bruno).await;
    assert_eq!(
        queue.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect::<Vec<_>>(),
        [big_id.as_str()]
    );
    assert!(f.audit("care.adjustment_approved").await.is_empty());
    // 15.00 is within it: approved and applied.
    let small = json!({"bill": bill, "amount": "15.00", "reason": "goodwill"});
    let (status, pending) = f.post_keyed(&path, &f.ana, "adj-small", &small).await;
    assert_eq!((status, &pending["state"]), (201, &json!("pending")), "{pending}");
    let small_id = pending["id"].as_str().unwrap();
    let (status, body) = f.app.post(&format!("/api/v1/care/approvals/{small_id}/approve"), &f.bruno, &json!({})).await;
    assert_eq!((status, &body["state"]), (201, &json!("applied")), "{body}");
}

async fn bad_adjustments_are_refused_and_write_nothing(backend: Backend) {
    let f = fixture(backend, |_| {}).await;
    let lucia = f.customer("CARE-B1", Profile::Family, "28013", &f.ana).await;
    let other = f.customer("CARE-B2", Profile::Family, "28013", &f.bruno).await;
    let bill_ref = lucia.seeded.bills[0].clone();
    let (bill, item, item_minor) = open_bill(&f, &lucia, &f.ana).await;
    let total = bill["total"]["minor"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{}/care/adjustments", lucia.conversation);
    let cents = |m: i64| format!("{}.{:02}", m / 100, m % 100);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": "-5.00", "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": "0", "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": "five", "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": "1.234", "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": true, "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": cents(item_minor + 1), "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "amount": cents(total + 1), "reason": "billing_error"}),
            400,
            "invalid_amount",
            "amount",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": item, "amount": "1.00", "reason": "because"}),
            422,
            "invalid_field",
            "reason",
        ),
        (
            json!({"bill": bill_ref.as_str(), "item": "NO-SUCH-ITEM", "amount": "1.00", "reason": "billing_error"}),
            404,
            "not_found",
            "",
        ),
        // Another customer's bill, and an item of it.
        (
            json!({"bill": other.seeded.bills[0].as_str(), "amount": "1.00", "reason": "billing_error"}),
            404,
            "not_found",
            "",
        ),
        (json!({"bill": "no/such", "amount": "1.00", "reason": "billing_error"}), 422, "invalid_field", "bill"),
    ];
    for (i, (body, status, code_want, field)) in cases.into_iter().enumerate() {
        let (got, answer) = f.post_keyed(&path, &f.ana, &format!("bad-{i}"), &body).await;
        assert_eq!((got, code(&answer)), (status, (code_want, field)), "{body} → {answer}");
    }
    // An item of another customer's bill, on this customer's bill: not found.
    let (other_bill, other_item, _) = open_bill(&f, &other, &f.bruno).await;
    assert!(other_bill.is_object());
    let (status, body) = f
        .post_keyed(
            &path,
            &f.ana,
            "bad-other-item",
            &json!({"bill": bill_ref.as_str(), "item": other_item, "amount": "1.00", "reason": "billing_error"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    // Nothing written: no request, the bill as it was, no audit entry.
    assert!(f.requests(&lucia).await.is_empty());
    assert_eq!(f.bill(&bill_ref).await.unpaid.minor, bill["unpaid"]["minor"].as_i64().unwrap());
    assert!(f.audit("care.adjustment_requested").await.is_empty());
}

async fn a_discontinued_service_records_retention_and_consent(backend: Backend) {
    let f = fixture(backend, |_| {}).await;
    let lucia = f.customer("CARE-D1", Profile::Family, "28013", &f.ana).await;
    let conv = &lucia.conversation;
    let (status, list) = f.app.get(&format!("/api/v1/conversations/{conv}/care/cancellable"), &f.ana).await;
    assert_eq!(status, 200, "{list}");
    let fibre = list.as_array().unwrap().iter().find(|c| c["product"]["offering"] == "fibre-600").unwrap().clone();
    assert!(fibre["product"]["early_termination_fee"]["minor"].as_i64().unwrap() > 0, "in its commitment: {fibre}");
    let offer = fibre["retention_offers"][0]["id"].as_str().unwrap().to_owned();
    let fibre_id = fibre["product"]["id"].as_str().unwrap().to_owned();
    let tv = list.as_array().unwrap().iter().find(|c| c["product"]["offering"] == "tv-essentials").unwrap();
    let tv_id = tv["product"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conv}/care/discontinue");

    // Bad input: an unknown reason, no consent answer, an offer without its result.
    for (body, field) in [
        (json!({"product": fibre_id, "reason": "bored", "marketing_consent": false}), "reason"),
        (json!({"product": fibre_id, "reason": "price"}), "marketing_consent"),
        (
            json!({"product": fibre_id, "reason": "price", "marketing_consent": true, "retention_offer": offer}),
            "retention_result",
        ),
        (
            json!({"product": fibre_id, "reason": "price", "marketing_consent": true, "retention_offer": "retention-99pct-1m", "retention_result": "accepted"}),
            "retention_offer",
        ),
    ] {
        let (status, answer) = f.post_keyed(&path, &f.ana, &format!("d-bad-{field}"), &body).await;
        assert_eq!((status, code(&answer)), (422, ("invalid_field", field)), "{body} → {answer}");
    }

    // The customer accepts the retention offer: a modify order, the fibre stays.
    let (status, kept) = f
        .post_keyed(&path, &f.ana, "d-1", &json!({"product": fibre_id, "reason": "price", "retention_offer": offer, "retention_result": "accepted", "marketing_consent": true}))
        .await;
    assert_eq!(status, 201, "{kept}");
    assert_eq!(
        (&kept["state"], &kept["detail"]["retained"], &kept["marketing_consent"]),
        (&json!("applied"), &json!(true), &json!(true))
    );
    let products = f.bss.products(&lucia.seeded.customer).await.unwrap();
    assert_eq!(products.iter().find(|p| p.id.as_str() == fibre_id).unwrap().status, bss::ProductStatus::Active);

    // The customer declines for the TV: the delete order, the product terminated.
    let (status, gone) = f
        .post_keyed(&path, &f.ana, "d-2", &json!({"product": tv_id, "reason": "no_longer_needed", "retention_offer": offer_of(&list, &tv_id), "retention_result": "declined", "marketing_consent": false}))
        .await;
    assert_eq!(status, 201, "{gone}");
    assert_eq!(
        (&gone["state"], &gone["detail"]["retained"], &gone["marketing_consent"]),
        (&json!("applied"), &json!(false), &json!(false))
    );
    let products = f.bss.products(&lucia.seeded.customer).await.unwrap();
    assert_eq!(products.iter().find(|p| p.id.as_str() == tv_id).unwrap().status, bss::ProductStatus::Terminated);
    // Discontinued again: refused (not active), nothing more stored.
    let (status, _) = f
        .post_keyed(&path, &f.ana, "d-3", &json!({"product": tv_id, "reason": "price", "marketing_consent": false}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(f.requests(&lucia).await.len(), 2);

    let kinds: Vec<String> = f.timeline(&lucia).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["care.discontinue_service", "care.discontinue_service"]);
    assert_eq!(f.audit("care.service_retained").await.len(), 1);
    let discontinued = f.audit("care.service_discontinued").await;
    assert_eq!(discontinued.len(), 1);
    assert_eq!(discontinued[0]["details"]["marketing_consent"], false);
}

fn offer_of(list: &Value, product: &str) -> String {
    let entry = list.as_array().unwrap().iter().find(|c| c["product"]["id"] == product).unwrap();
    entry["retention_offers"][0]["id"].as_str().unwrap().to_owned()
}

async fn adjustments_need_a_fresh_sign_in(backend: Backend) {
    let f = fixture(backend, |c| c.staff.step_up_secs = 1).await;
    let lucia = f.customer("CARE-S1", Profile::Family, "28013", &f.ana).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let path = format!("/api/v1/conversations/{}/care/adjustments", lucia.conversation);
    let body = json!({"bill": lucia.seeded.bills[0].as_str(), "amount": "1.00", "reason": "goodwill"});
    let (status, answer) = f.post_keyed(&path, &f.ana, "s-1", &body).await;
    assert_eq!((status, code(&answer).0), (401, "step_up_required"), "{answer}");
    assert!(f.requests(&lucia).await.is_empty());
    let (status, _) = f.app.post("/api/v1/auth/step-up", &f.ana, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200);
    let (status, answer) = f.post_keyed(&path, &f.ana, "s-1", &body).await;
    assert_eq!((status, &answer["state"]), (201, &json!("applied")), "{answer}");
}
