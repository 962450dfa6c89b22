//! A local stand-in for an operator's TM Forum Open APIs (v4): TMF629 customers, TMF666 billing
//! accounts, TMF637 product inventory, TMF678 bills and applied rates, TMF635 usage, TMF620
//! catalogue, TMF679 qualification, TMF622 orders and TMF653 service tests. It serves the
//! resources as the specifications write them (paths, attribute filters, `fields`, `offset` and
//! `limit` with `X-Total-Count`/`X-Result-Count` and 206 for a partial page, `sort`, TMF error
//! bodies, 201 with `Location` on create) from fixture data it keeps in memory and changes on
//! POST and PATCH: Madrid customers with mobile, fibre and TV, prepaid and postpaid, one in
//! arrears. Fault knobs make it slow, failing (500), malformed, oversized or hang up.

// Handlers answer an error response as the `Err` of their result: the size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Map, Value, json};
use time::{Date, Month, OffsetDateTime};

/// Where each resource lives (`/tmf-api/{api}/v4/{resource}`).
const RESOURCES: &[(&str, &str)] = &[
    ("customer", "customerManagement"),
    ("billingAccount", "accountManagement"),
    ("product", "productInventory"),
    ("customerBill", "customerBillManagement"),
    ("appliedCustomerBillingRate", "customerBillManagement"),
    ("usage", "usageManagement"),
    ("productOffering", "productCatalogManagement"),
    ("productOfferingPrice", "productCatalogManagement"),
    ("productOfferingQualification", "productOfferingQualification"),
    ("productOrder", "productOrderingManagement"),
    ("serviceTest", "serviceTestManagement"),
];

/// The postcodes with fibre and TV coverage.
const COVERAGE: &[&str] = &["28004", "28012", "28013", "28045"];

/// What the stand-in does instead of answering well.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Every answer waits this long first.
    pub delay_ms: u64,
    /// Answer 500 with a TMF error body.
    pub fail: bool,
    /// Answer 200 with a body that is not JSON.
    pub malformed: bool,
    /// Answer 200 with a 3 MB body.
    pub oversized: bool,
    /// Start a 200 answer and drop the connection.
    pub hang_up: bool,
}

/// A request the stand-in received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
}

impl Seen {
    /// The query parameter `name`.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    resources: HashMap<&'static str, Vec<Value>>,
    faults: Faults,
    seen: Vec<Seen>,
    token: Option<String>,
}

/// The running stand-in.
#[derive(Debug, Clone)]
pub struct TmfStandIn {
    /// `http://127.0.0.1:PORT`, where `/tmf-api/...` starts.
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn tmf_error(status: u16, code: &str, reason: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)).json(json!({
        "@type": "Error", "code": code, "reason": reason, "message": message, "status": status.to_string()
    }))
}

impl TmfStandIn {
    /// Starts the stand-in with the fixture data on an ephemeral port of 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0", None).await
    }

    /// Starts it on `bind`; with `token`, requests must carry `Authorization: Bearer <token>`.
    ///
    /// # Panics
    /// When `bind` cannot be bound.
    pub async fn start_on(bind: &str, token: Option<String>) -> Self {
        let state = Arc::new(Mutex::new(State { resources: fixtures(today()), token, ..State::default() }));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(answer)))
            .workers(2)
            .disable_signals()
            .bind(bind)
            .expect("bind the TMF stand-in");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://{addr}"), state, handle }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the fault knobs.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Every request so far.
    #[must_use]
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Forgets the requests seen.
    pub fn clear_seen(&self) {
        self.lock().seen.clear();
    }

    /// The stored resources of a kind (`"productOrder"`), as served.
    #[must_use]
    pub fn resources(&self, kind: &str) -> Vec<Value> {
        self.lock().resources.get(kind).cloned().unwrap_or_default()
    }

    /// Adds or replaces (by `id`) a resource, e.g. a deliberately odd one for a test.
    pub fn put(&self, kind: &'static str, value: Value) {
        let mut state = self.lock();
        let list = state.resources.entry(kind).or_default();
        list.retain(|v| v["id"] != value["id"]);
        list.push(value);
    }

    /// Stops it.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn day_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn month_start(d: Date, back: u8) -> Date {
    let mut y = d.year();
    let mut m = u8::from(d.month());
    for _ in 0..back {
        if m == 1 {
            m = 12;
            y -= 1;
        } else {
            m -= 1;
        }
    }
    Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), 1).unwrap_or(d)
}

fn month_end(start: Date) -> Date {
    let next = if start.month() == Month::December {
        Date::from_calendar_date(start.year() + 1, Month::January, 1)
    } else {
        Date::from_calendar_date(start.year(), start.month().next(), 1)
    };
    next.ok().and_then(Date::previous_day).unwrap_or(start)
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let query: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let faults = {
        let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.seen.push(Seen {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            query: query.clone(),
            authorization: authorization.clone(),
        });
        if let Some(token) = &s.token
            && authorization.as_deref() != Some(format!("Bearer {token}").as_str())
        {
            return tmf_error(401, "UNAUTHORIZED", "Unauthorized", "a valid bearer token is required");
        }
        s.faults.clone()
    };
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if faults.fail {
        return tmf_error(500, "INTERNAL", "Internal error", "the billing backend failed");
    }
    if faults.malformed {
        return HttpResponse::Ok().content_type("application/json").body(r#"[{"id": "CUST-1001", "name": "#);
    }
    if faults.oversized {
        let mut big = String::with_capacity(3 * 1024 * 1024 + 16);
        big.push('[');
        let filler = "x".repeat(1000);
        for i in 0..3 * 1024 {
            if i > 0 {
                big.push(',');
            }
            big.push('"');
            big.push_str(&filler);
            big.push('"');
        }
        big.push(']');
        return HttpResponse::Ok().content_type("application/json").body(big);
    }
    if faults.hang_up {
        let stream = futures_util::stream::iter([
            Ok::<_, std::io::Error>(web::Bytes::from_static(b"[{\"id\":")),
            Err(std::io::Error::other("hang up")),
        ]);
        return HttpResponse::Ok().content_type("application/json").streaming(stream);
    }
    let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    route(&mut s, &req, &query, &body)
}

fn route(s: &mut State, req: &HttpRequest, query: &[(String, String)], body: &[u8]) -> HttpResponse {
    let segments: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    let (api, resource, id) = match segments.as_slice() {
        ["tmf-api", api, "v4", resource] => (*api, *resource, None),
        ["tmf-api", api, "v4", resource, id] => (*api, *resource, Some(*id)),
        _ => return tmf_error(404, "NOT_FOUND", "Not found", "no such API path"),
    };
    let Some(&(kind, _)) = RESOURCES.iter().find(|(r, a)| *r == resource && *a == api) else {
        return tmf_error(404, "NOT_FOUND", "Not found", &format!("no resource {resource} in {api}"));
    };
    let href = |id: &str| format!("/tmf-api/{api}/v4/{kind}/{id}");
    let method = req.method().as_str();
    match (method, id) {
        ("GET", None) => list(s, kind, query),
        ("GET", Some(id)) => match s.resources.get(kind).and_then(|l| l.iter().find(|v| v["id"] == id)) {
            Some(v) => match fields(v, query) {
                Ok(v) => HttpResponse::Ok().json(v),
                Err(e) => e,
            },
            None => tmf_error(404, "NOT_FOUND", "Not found", &format!("no {kind} {id}")),
        },
        ("POST", None) => {
            let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
                return tmf_error(400, "BAD_REQUEST", "Bad request", "the body is not a JSON object");
            };
            let created = match kind {
                "productOrder" => create_order(s, input),
                "appliedCustomerBillingRate" => create_rate(s, input),
                "productOfferingQualification" => qualify(s, &input),
                "serviceTest" => service_test(s, &input),
                _ => {
                    return tmf_error(
                        405,
                        "METHOD_NOT_ALLOWED",
                        "Method not allowed",
                        &format!("{kind} cannot be created"),
                    );
                }
            };
            match created {
                Ok(mut v) => {
                    let id = v["id"].as_str().unwrap_or_default().to_owned();
                    v["href"] = json!(href(&id));
                    s.resources.entry(kind).or_default().push(v.clone());
                    HttpResponse::Created().insert_header(("Location", href(&id))).json(v)
                }
                Err(e) => e,
            }
        }
        ("PATCH", Some(id)) if kind == "billingAccount" => {
            let json_ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !json_ct.starts_with("application/merge-patch+json") && !json_ct.starts_with("application/json") {
                return tmf_error(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "Unsupported media type",
                    "send application/merge-patch+json",
                );
            }
            let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
                return tmf_error(400, "BAD_REQUEST", "Bad request", "the body is not a JSON object");
            };
            let Some(account) = s.resources.get_mut(kind).and_then(|l| l.iter_mut().find(|v| v["id"] == id)) else {
                return tmf_error(404, "NOT_FOUND", "Not found", &format!("no billingAccount {id}"));
            };
            for (k, v) in patch {
                if k != "id" && k != "href" {
                    account[k] = v;
                }
            }
            HttpResponse::Ok().json(account.clone())
        }
        _ => tmf_error(405, "METHOD_NOT_ALLOWED", "Method not allowed", &format!("{method} is not allowed here")),
    }
}

/// The values at a dotted path, through arrays.
fn values_at<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| values_at(i, path, out)),
        _ => match path.split_first() {
            None => out.push(v),
            Some((head, rest)) => {
                if let Some(next) = v.get(*head) {
                    values_at(next, rest, out);
                }
            }
        },
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn matches(item: &Value, key: &str, wanted: &str) -> bool {
    let (path, op) = match key.rsplit_once('.') {
        Some((p, op @ ("gt" | "gte" | "lt" | "lte"))) => (p, op),
        _ => (key, "eq"),
    };
    let parts: Vec<&str> = path.split('.').collect();
    let mut found = Vec::new();
    values_at(item, &parts, &mut found);
    found.iter().filter_map(|v| scalar(v)).any(|have| match op {
        "gt" => have.as_str() > wanted,
        "gte" => have.as_str() >= wanted,
        "lt" => have.as_str() < wanted,
        "lte" => have.as_str() <= wanted,
        // `name` matches a part of the name, without case (the customer search's use).
        _ if path == "name" => have.to_lowercase().contains(&wanted.to_lowercase()),
        _ if path.ends_with("emailAddress") => have.eq_ignore_ascii_case(wanted),
        _ => have == wanted,
    })
}

fn fields(v: &Value, query: &[(String, String)]) -> Result<Value, HttpResponse> {
    let Some((_, wanted)) = query.iter().find(|(k, _)| k == "fields") else { return Ok(v.clone()) };
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
    if wanted.iter().any(|f| !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '@' || c == '.')) {
        return Err(tmf_error(400, "BAD_FIELDS", "Bad request", "fields is a comma-separated list of attributes"));
    }
    let mut out = Map::new();
    if let Value::Object(o) = v {
        for (k, val) in o {
            if k == "id" || k == "href" || k == "@type" || wanted.contains(&k.as_str()) {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn list(s: &State, kind: &str, query: &[(String, String)]) -> HttpResponse {
    let number = |name: &str, default: usize| -> Result<usize, HttpResponse> {
        match query.iter().find(|(k, _)| k == name) {
            None => Ok(default),
            Some((_, v)) => v
                .parse::<usize>()
                .map_err(|_| tmf_error(400, "BAD_PAGING", "Bad request", &format!("{name} is a whole number"))),
        }
    };
    let (offset, limit) = match (number("offset", 0), number("limit", 100)) {
        (Ok(o), Ok(l)) => (o, l.min(1000)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut items: Vec<&Value> = s
        .resources
        .get(kind)
        .map(|l| {
            l.iter()
                .filter(|item| {
                    query
                        .iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "fields" | "offset" | "limit" | "sort"))
                        .all(|(k, v)| matches(item, k, v))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some((_, sort)) = query.iter().find(|(k, _)| k == "sort") {
        let (desc, key) = sort.strip_prefix('-').map_or((false, sort.as_str()), |k| (true, k));
        items.sort_by(|a, b| {
            let o = scalar(&a[key]).cmp(&scalar(&b[key]));
            if desc { o.reverse() } else { o }
        });
    }
    let total = items.len();
    let page: Vec<Value> = match items.iter().skip(offset).take(limit).map(|v| fields(v, query)).collect() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let status = if offset + page.len() < total || offset > 0 { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    HttpResponse::build(status)
        .insert_header(("X-Total-Count", total.to_string()))
        .insert_header(("X-Result-Count", page.len().to_string()))
        .json(page)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", 9000 + NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

fn find<'a>(s: &'a State, kind: &str, id: &str) -> Option<&'a Value> {
    s.resources.get(kind).and_then(|l| l.iter().find(|v| v["id"] == id))
}

fn unprocessable(code: &str, message: &str) -> HttpResponse {
    tmf_error(422, code, "Unprocessable entity", message)
}

fn create_order(s: &mut State, mut input: Map<String, Value>) -> Result<Value, HttpResponse> {
    if let Some(ext) = input.get("externalId").and_then(Value::as_str)
        && s.resources.get("productOrder").is_some_and(|l| l.iter().any(|o| o["externalId"] == ext))
    {
        return Err(tmf_error(
            409,
            "DUPLICATE_EXTERNAL_ID",
            "Conflict",
            &format!("an order with externalId {ext} exists"),
        ));
    }
    let customer = input
        .get("relatedParty")
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|p| p["role"] == "Customer"))
        .and_then(|p| p["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| tmf_error(400, "MISSING_PARTY", "Bad request", "relatedParty with role Customer is required"))?;
    if find(s, "customer", &customer).is_none() {
        return Err(unprocessable("UNKNOWN_CUSTOMER", &format!("no customer {customer}")));
    }
    let account = input.get("billingAccount").and_then(|a| a["id"].as_str()).unwrap_or_default().to_owned();
    let items = input.get("productOrderItem").and_then(Value::as_array).cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(tmf_error(400, "NO_ITEMS", "Bad request", "productOrderItem is required"));
    }
    let mut new_products = Vec::new();
    for item in &items {
        let offering = item["productOffering"]["id"].as_str();
        match item["action"].as_str() {
            Some("add") => {
                let Some(o) = offering.and_then(|o| find(s, "productOffering", o)) else {
                    return Err(unprocessable("UNKNOWN_OFFERING", "the offering to add is not in the catalogue"));
                };
                let family = o["category"].as_array().and_then(|c| {
                    c.iter().filter_map(|c| c["name"].as_str()).find(|n| ["mobile", "fibre", "tv"].contains(n))
                });
                let mut p = json!({
                    "id": new_id("PRD"), "@type": "Product", "name": o["name"], "status": "pendingActive",
                    "productOffering": {"id": o["id"], "name": o["name"]},
                    "billingAccount": {"id": account},
                    "relatedParty": [{"id": customer, "role": "Customer", "@referredType": "Customer"}],
                    "productCharacteristic": [{"name": "serviceType", "value": family.unwrap_or("other")}],
                    "productRelationship": item["product"]["productRelationship"].clone(),
                });
                if let Some(d) = item["product"]["startDate"].as_str() {
                    p["startDate"] = json!(d);
                }
                new_products.push(p);
            }
            Some(action @ ("modify" | "delete")) => {
                let pid = item["product"]["id"].as_str().unwrap_or_default();
                let Some(p) = find(s, "product", pid) else {
                    return Err(unprocessable("UNKNOWN_PRODUCT", &format!("no product {pid}")));
                };
                if p["status"] != "active" {
                    return Err(unprocessable("PRODUCT_NOT_ACTIVE", &format!("product {pid} is not active")));
                }
                if action == "modify" && offering.and_then(|o| find(s, "productOffering", o)).is_none() {
                    return Err(unprocessable("UNKNOWN_OFFERING", "the offering to move to is not in the catalogue"));
                }
            }
            _ => return Err(tmf_error(400, "BAD_ACTION", "Bad request", "action is add, modify or delete")),
        }
    }
    // Accepted: the inventory changes.
    for item in &items {
        let pid = item["product"]["id"].as_str().unwrap_or_default();
        if let Some(p) = s.resources.get_mut("product").and_then(|l| l.iter_mut().find(|p| p["id"] == pid)) {
            match item["action"].as_str() {
                Some("modify") => p["productOffering"] = json!({"id": item["productOffering"]["id"]}),
                Some("delete") => p["status"] = json!("pendingTerminate"),
                _ => {}
            }
        }
    }
    s.resources.entry("product").or_default().extend(new_products);
    input.insert("id".into(), json!(new_id("PO")));
    input.insert("@type".into(), json!("ProductOrder"));
    input.insert("state".into(), json!("acknowledged"));
    input.insert("orderDate".into(), json!(now_text()));
    Ok(Value::Object(input))
}

fn cents(v: &Value) -> i64 {
    // The stand-in's own arithmetic; the client under test never goes through floats.
    v.as_f64().map_or(0, |f| (f * 100.0).round() as i64)
}

fn euros(c: i64) -> Value {
    serde_json::from_str(&format!("{}{}.{:02}", if c < 0 { "-" } else { "" }, c.abs() / 100, c.abs() % 100))
        .unwrap_or(Value::Null)
}

fn create_rate(s: &mut State, mut input: Map<String, Value>) -> Result<Value, HttpResponse> {
    // Only credits with a reason (adjustments) can be created; TMF678 v4 itself serves the
    // rates read-only.
    let has_reason = input
        .get("characteristic")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["name"] == "reasonCode" && c["value"].is_string()));
    if input.get("type").and_then(Value::as_str) != Some("appliedBillingCredit") || !has_reason {
        return Err(unprocessable(
            "NOT_AN_ADJUSTMENT",
            "only appliedBillingCredit rates with a reasonCode can be created",
        ));
    }
    let bill_id = input.get("bill").and_then(|b| b["id"].as_str()).unwrap_or_default().to_owned();
    let Some(bill) = find(s, "customerBill", &bill_id) else {
        return Err(unprocessable("UNKNOWN_BILL", &format!("no bill {bill_id}")));
    };
    if bill["state"] == "settled" {
        return Err(unprocessable("BILL_CLOSED", &format!("bill {bill_id} is settled")));
    }
    let amount = input.get("taxIncludedAmount").cloned().unwrap_or(Value::Null);
    if amount["unit"] != bill["amountDue"]["unit"] || !amount["value"].is_number() {
        return Err(tmf_error(
            400,
            "BAD_AMOUNT",
            "Bad request",
            "taxIncludedAmount must be Money in the bill's currency",
        ));
    }
    let credit = cents(&amount["value"]);
    if credit >= 0 {
        return Err(tmf_error(400, "BAD_AMOUNT", "Bad request", "a credit is a negative taxIncludedAmount"));
    }
    if -credit > cents(&bill["remainingAmount"]["value"]) {
        return Err(unprocessable("OVER_BALANCE", "the credit is larger than what is left to pay"));
    }
    let account_id = bill["billingAccount"]["id"].as_str().unwrap_or_default().to_owned();
    if let Some(bill) =
        s.resources.get_mut("customerBill").and_then(|l| l.iter_mut().find(|b| b["id"] == bill_id.as_str()))
    {
        let left = cents(&bill["remainingAmount"]["value"]) + credit;
        bill["remainingAmount"]["value"] = euros(left);
        if left == 0 {
            bill["state"] = json!("settled");
        }
    }
    if let Some(acc) =
        s.resources.get_mut("billingAccount").and_then(|l| l.iter_mut().find(|a| a["id"] == account_id.as_str()))
        && let Some(balances) = acc["accountBalance"].as_array_mut()
    {
        for b in balances.iter_mut() {
            let v = cents(&b["amount"]["value"]) + credit;
            b["amount"]["value"] = euros(if b["balanceType"] == "overdueBalance" { v.max(0) } else { v });
        }
    }
    input.insert("id".into(), json!(new_id("ADJ")));
    input.insert("@type".into(), json!("AppliedCustomerBillingRate"));
    input.insert("date".into(), json!(now_text()));
    Ok(Value::Object(input))
}

fn qualify(s: &State, input: &Map<String, Value>) -> Result<Value, HttpResponse> {
    let customer = input
        .get("relatedParty")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|p| p["id"].as_str())
        .unwrap_or_default();
    let Some(c) = find(s, "customer", customer) else {
        return Err(unprocessable("UNKNOWN_CUSTOMER", &format!("no customer {customer}")));
    };
    let postcode = c["contactMedium"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["mediumType"] == "postalAddress"))
        .and_then(|m| m["characteristic"]["postCode"].as_str())
        .unwrap_or_default()
        .to_owned();
    let items = input.get("productOfferingQualificationItem").and_then(Value::as_array).cloned().unwrap_or_default();
    if items.is_empty() || items.iter().any(|i| !i["id"].is_string()) {
        return Err(tmf_error(
            400,
            "NO_ITEMS",
            "Bad request",
            "productOfferingQualificationItem is required, each with its id",
        ));
    }
    let mut out_items = Vec::new();
    let mut all = true;
    for item in items {
        let oid = item["productOffering"]["id"].as_str().unwrap_or_default();
        let Some(o) = find(s, "productOffering", oid) else {
            return Err(unprocessable("UNKNOWN_OFFERING", &format!("no offering {oid}")));
        };
        let names: Vec<&str> =
            o["category"].as_array().map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect()).unwrap_or_default();
        let fixed = names.iter().any(|n| *n == "fibre" || *n == "tv");
        let ok = !fixed || COVERAGE.contains(&postcode.as_str());
        all &= ok;
        let mut out = json!({
            "@type": "ProductOfferingQualificationItem", "id": item["id"], "productOffering": {"id": oid},
            "state": "done", "qualificationItemResult": if ok { "qualified" } else { "unqualified" },
        });
        if !ok {
            out["eligibilityUnavailabilityReason"] =
                json!([{"code": "NO_COVERAGE", "label": format!("No fibre or TV coverage at {postcode}")}]);
        } else if names.contains(&"installation") {
            let mut d = today();
            let mut dates = Vec::new();
            while dates.len() < 3 {
                d = d.next_day().unwrap_or(d);
                if d >= today() + time::Duration::days(3)
                    && !matches!(d.weekday(), time::Weekday::Saturday | time::Weekday::Sunday)
                {
                    dates.push(day_text(d));
                }
            }
            out["product"] =
                json!({"productCharacteristic": [{"name": "installationDate", "valueType": "array", "value": dates}]});
        }
        out_items.push(out);
    }
    let mut v = Value::Object(input.clone());
    v["id"] = json!(new_id("POQ"));
    v["@type"] = json!("ProductOfferingQualification");
    v["state"] = json!("done");
    v["qualificationResult"] = json!(if all { "green" } else { "red" });
    v["effectiveQualificationDate"] = json!(now_text());
    v["productOfferingQualificationItem"] = Value::Array(out_items);
    Ok(v)
}

fn service_test(s: &State, input: &Map<String, Value>) -> Result<Value, HttpResponse> {
    if !matches!(input.get("mode").and_then(Value::as_str), None | Some("PROACTIVE" | "ONDEMAND")) {
        return Err(tmf_error(400, "BAD_MODE", "Bad request", "mode is PROACTIVE or ONDEMAND"));
    }
    if ["name", "relatedService", "testSpecification"].iter().any(|k| !input.contains_key(*k)) {
        return Err(tmf_error(
            400,
            "MISSING_ATTRIBUTE",
            "Bad request",
            "name, relatedService and testSpecification are required",
        ));
    }
    let service = input.get("relatedService").and_then(|r| r["id"].as_str()).unwrap_or_default();
    let product = s.resources.get("product").and_then(|l| {
        l.iter().find(|p| {
            p["realizingService"].as_array().is_some_and(|r| r.iter().any(|r| r["id"] == service)) || p["id"] == service
        })
    });
    let Some(product) = product else {
        return Err(unprocessable("UNKNOWN_SERVICE", &format!("no service {service}")));
    };
    let fault = product["productCharacteristic"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["name"] == "lineFault" && c["value"] == true));
    let family = product["productCharacteristic"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "serviceType"))
        .and_then(|c| c["value"].as_str())
        .unwrap_or("other");
    let violation = |bad: bool| {
        if bad { json!([{"@type": "MeasureThresholdRuleViolation", "description": "out of range"}]) } else { json!([]) }
    };
    let measures = match family {
        "mobile" => json!([
            {"metricName": "registered", "value": {"name": "registered", "value": !fault}, "ruleViolation": violation(fault)},
            {"metricName": "signalDbm", "unitOfMeasure": "dBm", "value": {"name": "signalDbm", "value": if fault { -118 } else { -79 }}, "ruleViolation": violation(fault)}
        ]),
        _ => json!([
            {"metricName": "onuStatus", "value": {"name": "onuStatus", "value": if fault { "los" } else { "online" }}, "ruleViolation": violation(fault)},
            {"metricName": "syncRateDownMbps", "unitOfMeasure": "Mbps", "value": {"name": "syncRateDownMbps", "value": if fault { 0 } else { 940 }}, "ruleViolation": violation(fault)}
        ]),
    };
    let mut v = Value::Object(input.clone());
    v["id"] = json!(new_id("ST"));
    v["@type"] = json!("ServiceTest");
    v["state"] = json!("completed");
    v["startDateTime"] = json!(now_text());
    v["endDateTime"] = json!(now_text());
    v["description"] = json!(if fault {
        "Loss of signal on the line: a technician visit is needed."
    } else {
        "The line is working normally."
    });
    v["testMeasure"] = measures;
    Ok(v)
}

// ------------------------------------------------------------------------------- fixtures

fn money(value: &str) -> Value {
    json!({"unit": "EUR", "value": serde_json::from_str::<Value>(value).unwrap_or(Value::Null)})
}

struct Line<'a> {
    id: &'a str,
    offering: &'a str,
    name: &'a str,
    family: &'a str,
    price: &'a str,
    identifier: &'a str,
    parent: Option<&'a str>,
    commitment_end: Option<&'a str>,
    penalty: Option<&'a str>,
    allowance_mb: Option<u64>,
    fault: bool,
}

fn product(l: &Line<'_>, customer: &str, account: &str, start: &str) -> Value {
    let mut chars = vec![json!({"name": "serviceType", "valueType": "string", "value": l.family})];
    if l.family == "mobile" {
        chars.push(json!({"name": "msisdn", "valueType": "string", "value": l.identifier}));
        match l.allowance_mb {
            Some(mb) => chars.push(json!({"name": "dataAllowanceMB", "valueType": "number", "value": mb})),
            None => chars.push(json!({"name": "dataAllowanceMB", "valueType": "string", "value": "unlimited"})),
        }
        chars.push(json!({"name": "voiceAllowanceMinutes", "valueType": "string", "value": "unlimited"}));
    }
    if l.fault {
        chars.push(json!({"name": "lineFault", "valueType": "boolean", "value": true}));
    }
    let mut prices = vec![
        json!({"@type": "ProductPrice", "name": "Cuota mensual", "priceType": "recurring", "recurringChargePeriod": "month",
        "price": {"taxIncludedAmount": money(l.price)}}),
    ];
    if let Some(p) = l.penalty {
        prices.push(json!({"@type": "ProductPrice", "name": "Penalización por baja anticipada", "priceType": "penalty", "price": {"taxIncludedAmount": money(p)}}));
    }
    let mut v = json!({
        "id": l.id, "href": format!("/tmf-api/productInventory/v4/product/{}", l.id), "@type": "Product",
        "name": l.name, "status": "active", "isBundle": false, "startDate": start,
        "productOffering": {"id": l.offering, "name": l.name, "@referredType": "ProductOffering"},
        "billingAccount": {"id": account, "@referredType": "BillingAccount"},
        "relatedParty": [{"id": customer, "role": "Customer", "@referredType": "Customer"}],
        "productCharacteristic": chars, "productPrice": prices,
        "realizingService": [{"id": format!("SRV-{}", l.id), "@referredType": "Service"}],
        "productRelationship": l.parent.map(|p| json!([{"relationshipType": "addOnOf", "product": {"id": p}}])).unwrap_or(json!([])),
    });
    if l.family != "mobile" {
        v["productSerialNumber"] = json!(l.identifier);
    }
    if let Some(end) = l.commitment_end {
        v["productTerm"] = json!([{"name": "Permanencia", "duration": {"amount": 12, "units": "month"}, "validFor": {"startDateTime": start, "endDateTime": format!("{end}T00:00:00Z")}}]);
    }
    v
}

struct Person<'a> {
    id: &'a str,
    name: &'a str,
    email: &'a str,
    phone: &'a str,
    street: &'a str,
    postcode: &'a str,
    segment: &'a str,
    account: &'a str,
    prepaid: bool,
    arrears: bool,
    lines: Vec<Line<'a>>,
}

fn line<'a>(
    id: &'a str,
    offering: &'a str,
    name: &'a str,
    family: &'a str,
    price: &'a str,
    identifier: &'a str,
) -> Line<'a> {
    Line {
        id,
        offering,
        name,
        family,
        price,
        identifier,
        parent: None,
        commitment_end: None,
        penalty: None,
        allowance_mb: Some(10_240),
        fault: false,
    }
}

fn people<'a>() -> Vec<Person<'a>> {
    vec![
        Person {
            id: "CUST-1001",
            name: "Lucía Fernández Ruiz",
            email: "lucia.fernandez@example.es",
            phone: "+34611222333",
            street: "Calle de Atocha 45, 3º B",
            postcode: "28012",
            segment: "gold",
            account: "ACC-2001",
            prepaid: false,
            arrears: false,
            lines: vec![
                Line {
                    commitment_end: Some("2027-03-14"),
                    penalty: Some("120.00"),
                    ..line("PRD-3001", "fibre-1g", "Fibra 1 Gb", "fibre", "45.00", "FTTH-28012-0042")
                },
                Line {
                    allowance_mb: None,
                    ..line("PRD-3002", "mobile-unlimited", "Móvil Ilimitado", "mobile", "30.00", "+34611222333")
                },
                line("PRD-3003", "tv-basic", "TV Esencial", "tv", "12.00", "IPTV-0042"),
                Line {
                    parent: Some("PRD-3003"),
                    ..line("PRD-3004", "tv-futbol", "Fútbol Total", "tv", "25.00", "IPTV-0042-F")
                },
            ],
        },
        Person {
            id: "CUST-1002",
            name: "Javier Moreno Sanz",
            email: "javi.moreno@example.com",
            phone: "+34622333444",
            street: "Calle de Toledo 112",
            postcode: "28005",
            segment: "standard",
            account: "ACC-2002",
            prepaid: true,
            arrears: false,
            lines: vec![line("PRD-3005", "mobile-prepaid", "Prepago 5 GB", "mobile", "10.00", "+34622333444")],
        },
        Person {
            id: "CUST-1003",
            name: "Carmen Ortega Blanco",
            email: "carmen.ortega@example.es",
            phone: "+34633444555",
            street: "Calle de la Montera 20, 1º",
            postcode: "28013",
            segment: "standard",
            account: "ACC-2003",
            prepaid: false,
            arrears: true,
            lines: vec![
                Line {
                    fault: true,
                    commitment_end: Some("2027-06-01"),
                    penalty: Some("95.50"),
                    ..line("PRD-3006", "fibre-600", "Fibra 600 Mb", "fibre", "35.00", "FTTH-28013-0917")
                },
                line("PRD-3007", "mobile-basic", "Móvil 10 GB", "mobile", "15.00", "+34633444555"),
            ],
        },
        Person {
            id: "CUST-1004",
            name: "Pablo Navarro Gil",
            email: "pablo.navarro@example.com",
            phone: "+34644555666",
            street: "Paseo de las Delicias 30",
            postcode: "28045",
            segment: "platinum",
            account: "ACC-2004",
            prepaid: false,
            arrears: false,
            lines: vec![
                Line {
                    allowance_mb: None,
                    ..line("PRD-3008", "mobile-unlimited", "Móvil Ilimitado", "mobile", "30.00", "+34644555666")
                },
                line("PRD-3009", "tv-basic", "TV Esencial", "tv", "12.00", "IPTV-0313"),
                Line { parent: Some("PRD-3009"), ..line("PRD-3010", "tv-cine", "Cine", "tv", "10.00", "IPTV-0313-C") },
            ],
        },
        Person {
            id: "CUST-1005",
            name: "Hostal Sol Madrid SL",
            email: "reservas@hostalsol.example.es",
            phone: "+34915550101",
            street: "Calle de Preciados 9",
            postcode: "28013",
            segment: "business",
            account: "ACC-2005",
            prepaid: false,
            arrears: false,
            lines: vec![
                line("PRD-3011", "fibre-1g", "Fibra 1 Gb", "fibre", "45.00", "FTTH-28013-0101"),
                line("PRD-3012", "mobile-basic", "Móvil 10 GB", "mobile", "15.00", "+34655000001"),
                line("PRD-3013", "mobile-basic", "Móvil 10 GB", "mobile", "15.00", "+34655000002"),
                line("PRD-3014", "mobile-basic", "Móvil 10 GB", "mobile", "15.00", "+34655000003"),
                Line {
                    allowance_mb: None,
                    ..line("PRD-3015", "mobile-unlimited", "Móvil Ilimitado", "mobile", "30.00", "+34655000004")
                },
            ],
        },
    ]
}

#[allow(clippy::type_complexity)]
fn offerings() -> (Vec<Value>, Vec<Value>) {
    // (id, name, description, categories, recurring, one-time, months, relationships)
    let rows: &[(&str, &str, &str, &[&str], &str, Option<&str>, u32, &[(&str, &str)])] = &[
        (
            "mobile-prepaid",
            "Prepago 5 GB",
            "Prepaid, 5 GB and 100 minutes a month",
            &["mobile"],
            "10.00",
            None,
            0,
            &[("mobile-basic", "exchangableTo")],
        ),
        (
            "mobile-basic",
            "Móvil 10 GB",
            "10 GB, unlimited calls",
            &["mobile"],
            "15.00",
            None,
            0,
            &[("mobile-unlimited", "exchangableTo")],
        ),
        (
            "mobile-unlimited",
            "Móvil Ilimitado",
            "Unlimited data and calls, 5G",
            &["mobile"],
            "30.00",
            None,
            0,
            &[("mobile-basic", "exchangableTo")],
        ),
        (
            "mobile-roaming",
            "Roaming Mundo",
            "5 GB a month outside the EU",
            &["mobile", "addOn"],
            "5.00",
            None,
            0,
            &[("mobile-basic", "optionalFor"), ("mobile-unlimited", "optionalFor")],
        ),
        (
            "fibre-600",
            "Fibra 600 Mb",
            "Symmetric 600 Mb fibre",
            &["fibre", "installation"],
            "35.00",
            Some("0.00"),
            12,
            &[("fibre-1g", "exchangableTo")],
        ),
        (
            "fibre-1g",
            "Fibra 1 Gb",
            "Symmetric 1 Gb fibre with Wi-Fi 6 router",
            &["fibre", "installation"],
            "45.00",
            Some("0.00"),
            12,
            &[("fibre-600", "exchangableTo")],
        ),
        (
            "tv-basic",
            "TV Esencial",
            "80 channels and 7-day replay",
            &["tv", "installation"],
            "12.00",
            Some("30.00"),
            0,
            &[],
        ),
        (
            "tv-futbol",
            "Fútbol Total",
            "La Liga and Champions League",
            &["tv", "addOn"],
            "25.00",
            None,
            0,
            &[("tv-basic", "optionalFor")],
        ),
        (
            "tv-cine",
            "Cine",
            "Film channels and premieres",
            &["tv", "addOn"],
            "10.00",
            None,
            0,
            &[("tv-basic", "optionalFor")],
        ),
    ];
    let mut offerings = Vec::new();
    let mut prices = Vec::new();
    for (id, name, description, categories, recurring, one_time, months, rels) in rows {
        let mut refs = vec![json!({"id": format!("POP-{id}-m"), "name": "Cuota mensual"})];
        prices.push(json!({"id": format!("POP-{id}-m"), "@type": "ProductOfferingPrice", "name": "Cuota mensual", "lifecycleStatus": "Launched",
            "priceType": "recurring", "recurringChargePeriodType": "month", "recurringChargePeriodLength": 1, "price": money(recurring)}));
        if let Some(fee) = one_time {
            refs.push(json!({"id": format!("POP-{id}-i"), "name": "Alta e instalación"}));
            prices.push(json!({"id": format!("POP-{id}-i"), "@type": "ProductOfferingPrice", "name": "Alta e instalación", "lifecycleStatus": "Launched",
                "priceType": "oneTime", "price": money(fee)}));
        }
        let mut o = json!({
            "id": id, "href": format!("/tmf-api/productCatalogManagement/v4/productOffering/{id}"), "@type": "ProductOffering",
            "name": name, "description": description, "lifecycleStatus": "Launched", "isBundle": false, "isSellable": true,
            "category": categories.iter().map(|c| json!({"id": format!("CAT-{c}"), "name": c})).collect::<Vec<_>>(),
            "productOfferingPrice": refs,
            "productOfferingRelationship": rels.iter().map(|(t, kind)| json!({"id": t, "@referredType": "ProductOffering", "relationshipType": kind})).collect::<Vec<_>>(),
        });
        if *months > 0 {
            o["productOfferingTerm"] =
                json!([{"name": format!("{months} meses"), "duration": {"amount": months, "units": "month"}}]);
        }
        offerings.push(o);
    }
    for (id, name, description, family, discount, months) in [
        ("ret-mobile-5", "Retención móvil", "5 € off the monthly fee for 6 months", "mobile", "-5.00", 6),
        ("ret-fibre-10", "Retención fibra", "10 € off the monthly fee for 12 months", "fibre", "-10.00", 12),
    ] {
        offerings.push(json!({
            "id": id, "@type": "ProductOffering", "name": name, "description": description, "lifecycleStatus": "Launched", "isSellable": false,
            "category": [{"id": format!("CAT-{family}"), "name": family}, {"id": "CAT-retention", "name": "retention"}],
            "productOfferingPrice": [{"id": format!("POP-{id}")}],
            "productOfferingTerm": [{"name": format!("{months} meses"), "duration": {"amount": months, "units": "month"}}],
        }));
        prices.push(json!({"id": format!("POP-{id}"), "@type": "ProductOfferingPrice", "lifecycleStatus": "Launched", "priceType": "discount", "price": money(discount)}));
    }
    (offerings, prices)
}

fn parse_cents(text: &str) -> i64 {
    let (w, f) = text.split_once('.').unwrap_or((text, "0"));
    w.parse::<i64>().unwrap_or(0) * 100 + format!("{f:0<2}")[..2].parse::<i64>().unwrap_or(0)
}

/// The fixture data, dated around `today`.
#[allow(clippy::too_many_lines)]
fn fixtures(today: Date) -> HashMap<&'static str, Vec<Value>> {
    let mut r: HashMap<&'static str, Vec<Value>> = HashMap::new();
    let (offerings, prices) = offerings();
    r.insert("productOffering", offerings);
    r.insert("productOfferingPrice", prices);
    for p in people() {
        r.entry("customer").or_default().push(json!({
            "id": p.id, "href": format!("/tmf-api/customerManagement/v4/customer/{}", p.id), "@type": "Customer",
            "name": p.name, "status": "Approved",
            "engagedParty": {"id": p.id.replace("CUST", "PTY"), "name": p.name, "@referredType": if p.segment == "business" { "Organization" } else { "Individual" }},
            "account": [{"id": p.account, "name": p.name, "@referredType": "BillingAccount"}],
            "contactMedium": [
                {"mediumType": "email", "preferred": true, "characteristic": {"contactType": "home", "emailAddress": p.email}},
                {"mediumType": "telephoneNumber", "preferred": false, "characteristic": {"contactType": "mobile", "phoneNumber": p.phone}},
                {"mediumType": "postalAddress", "preferred": false, "characteristic": {"street1": p.street, "city": "Madrid", "stateOrProvince": "Madrid", "postCode": p.postcode, "country": "ES"}}
            ],
            "characteristic": [{"name": "segment", "valueType": "string", "value": p.segment}],
        }));
        let monthly: i64 = p.lines.iter().map(|l| parse_cents(l.price)).sum();
        let mut total_due = 0;
        let mut overdue = 0;
        if !p.prepaid {
            for back in 0..3u8 {
                let issued = month_start(today, back);
                let period_start = month_start(today, back + 1);
                let due = month_end(issued);
                let bill_id = format!("BILL-{}-{}", &p.account[4..], day_text(issued)[..7].replace('-', ""));
                let unpaid = back == 0 || (p.arrears && back == 1);
                let tax = monthly * 21 / 100;
                let total = monthly + tax;
                if unpaid {
                    total_due += total;
                    if back > 0 {
                        overdue += total;
                    }
                }
                r.entry("customerBill").or_default().push(json!({
                    "id": bill_id, "href": format!("/tmf-api/customerBillManagement/v4/customerBill/{bill_id}"), "@type": "CustomerBill",
                    "billNo": format!("F-{}-{}", day_text(issued)[..7].replace('-', ""), &p.account[4..]),
                    "billDate": format!("{}T00:00:00Z", day_text(issued)), "paymentDueDate": format!("{}T00:00:00Z", day_text(due)),
                    "billingPeriod": {"startDateTime": format!("{}T00:00:00Z", day_text(period_start)), "endDateTime": format!("{}T23:59:59Z", day_text(month_end(period_start)))},
                    "state": if unpaid { "sent" } else { "settled" }, "category": "normal", "runType": "onCycle",
                    "amountDue": euros_text(total), "taxIncludedAmount": euros_text(total), "taxExcludedAmount": euros_text(monthly),
                    "remainingAmount": euros_text(if unpaid { total } else { 0 }),
                    "taxItem": [{"@type": "TaxItem", "taxCategory": "IVA", "taxRate": 0.21, "taxAmount": euros_text(tax)}],
                    "billingAccount": {"id": p.account, "@referredType": "BillingAccount"},
                }));
                for (i, l) in p.lines.iter().enumerate() {
                    // Whole-euro prices: each line's 21 % is exact, and they add up to the bill's tax.
                    let net = parse_cents(l.price);
                    let line_tax = net * 21 / 100;
                    r.entry("appliedCustomerBillingRate").or_default().push(json!({
                        "id": format!("{bill_id}-{}", i + 1), "@type": "AppliedCustomerBillingRate", "name": "Cuota mensual",
                        "description": format!("{} ({})", l.name, l.identifier), "type": "recurringCharge", "isBilled": true,
                        "date": format!("{}T00:00:00Z", day_text(issued)),
                        "bill": {"id": bill_id, "@referredType": "CustomerBill"}, "billingAccount": {"id": p.account, "@referredType": "BillingAccount"},
                        "product": {"id": l.id, "@referredType": "Product"},
                        "taxExcludedAmount": euros_text(net), "taxIncludedAmount": euros_text(net + line_tax),
                        "appliedTax": [{"@type": "AppliedBillingTaxRate", "taxCategory": "IVA", "taxRate": 0.21, "taxAmount": euros_text(line_tax)}],
                        "periodCoverage": {"startDateTime": format!("{}T00:00:00Z", day_text(period_start)), "endDateTime": format!("{}T23:59:59Z", day_text(month_end(period_start)))},
                    }));
                }
            }
        }
        let balance = if p.prepaid { -850 } else { total_due };
        r.entry("billingAccount").or_default().push(json!({
            "id": p.account, "href": format!("/tmf-api/accountManagement/v4/billingAccount/{}", p.account), "@type": "BillingAccount",
            "name": p.name, "state": "Active", "accountType": if p.segment == "business" { "business" } else { "residential" },
            "ratingType": if p.prepaid { "prepaid" } else { "postpaid" }, "paymentStatus": if overdue > 0 { "overdue" } else { "due" },
            "accountBalance": [
                {"balanceType": "totalBalance", "amount": euros_text(balance), "validFor": {"startDateTime": format!("{}T00:00:00Z", day_text(month_start(today, 0))), "endDateTime": format!("{}T00:00:00Z", day_text(month_end(month_start(today, 0))))}},
                {"balanceType": "overdueBalance", "amount": euros_text(overdue), "validFor": {"startDateTime": format!("{}T00:00:00Z", day_text(month_start(today, 0)))}}
            ],
            "relatedParty": [{"id": p.id, "name": p.name, "role": "Customer", "@referredType": "Customer"}],
            "paymentPlan": [],
        }));
        for l in &p.lines {
            r.entry("product").or_default().push(product(l, p.id, p.account, "2025-03-14T09:00:00Z"));
            if l.family == "mobile" {
                for (k, (kind, q)) in [("data", 850), ("voice", 42), ("data", 1200), ("sms", 3)].iter().enumerate() {
                    r.entry("usage").or_default().push(json!({
                        "id": format!("USG-{}-{k}", l.id), "@type": "Usage", "usageType": kind, "status": "rated",
                        "usageDate": format!("{}T{:02}:00:00Z", day_text(month_start(today, 0)), 8 + k),
                        "usageCharacteristic": [{"name": "quantity", "valueType": "number", "value": q}],
                        "ratedProductUsage": [{"productRef": {"id": l.id}}],
                        "relatedParty": [{"id": p.id, "role": "Customer", "@referredType": "Customer"}],
                    }));
                }
                // Last month's usage is not this period's.
                r.entry("usage").or_default().push(json!({
                    "id": format!("USG-{}-old", l.id), "@type": "Usage", "usageType": "data", "status": "billed",
                    "usageDate": format!("{}T10:00:00Z", day_text(month_start(today, 1))),
                    "usageCharacteristic": [{"name": "quantity", "value": 99_999}],
                    "ratedProductUsage": [{"productRef": {"id": l.id}}],
                }));
            }
        }
    }
    r.insert("productOrder", vec![json!({
        "id": "PO-5001", "href": "/tmf-api/productOrderingManagement/v4/productOrder/PO-5001", "@type": "ProductOrder",
        "externalId": "legacy-crm-77", "state": "completed", "orderDate": "2025-03-10T11:30:00Z", "completionDate": "2025-03-14T09:00:00Z",
        "relatedParty": [{"id": "CUST-1001", "role": "Customer", "@referredType": "Customer"}],
        "billingAccount": {"id": "ACC-2001"},
        "productOrderItem": [{"id": "1", "action": "add", "quantity": 1, "productOffering": {"id": "fibre-1g"}, "product": {"startDate": "2025-03-14T09:00:00Z"}}],
    })]);
    r
}

fn euros_text(c: i64) -> Value {
    json!({"unit": "EUR", "value": euros(c)})
}
