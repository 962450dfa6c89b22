//! [`TmfClient`]: the [`Bss`] over an operator's TM Forum Open APIs (v4): TMF629 customers,
//! TMF666 billing accounts, TMF637 product inventory, TMF678 bills and their applied rates,
//! TMF635 usage, TMF620 catalogue, TMF679 qualification, TMF622 orders and TMF653 line tests.
//! docs/bss.md has the field mapping and what is assumed of the operator.
//!
//! Every call is bounded: a per-request timeout, a reply read chunk by chunk and abandoned past
//! [`TmfConfig::max_body`], a bounded number of pages. HTTP outcomes map to [`BssError`]: 404 is
//! `NotFound`, 400 `Invalid`, another 4xx with a TMF error body `Rejected`, 401/403/408/429,
//! 5xx, timeouts and connection failures `Unavailable`, a body that is not the documented JSON
//! `Malformed`.

mod wire;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::{Date, Month, OffsetDateTime};

use crate::{
    AccountRef, Adjustment, Bill, BillRef, BillState, BillingAccount, Bss, BssCustomer, BssError, ChangeKind,
    CustomerRef, Eligibility, Lookup, Money, NewAdjustment, NewOrder, NewPaymentArrangement, Offering, OfferingKind,
    OfferingRef, Order, OrderAction, PaymentArrangement, Product, ProductChange, ProductRef, Result, RetentionOffer,
    ServiceTest, Usage, UsageKind, UsageMeter,
};

/// A bearer token: never printed (its `Debug` is `Token(***)`).
#[derive(Clone)]
pub struct Token(String);

impl Token {
    #[must_use]
    pub const fn new(token: String) -> Self {
        Self(token)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// How to reach the operator's TMF endpoints.
#[derive(Clone, Debug)]
pub struct TmfConfig {
    /// Where the `/tmf-api/...` paths start (`https://bss.operator.example`), or the API root
    /// itself (`https://bss.operator.example/tmf-api`).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<Token>,
    /// The whole of one HTTP exchange, body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The largest reply read, in bytes; a larger one is `Malformed`.
    pub max_body: usize,
    /// `limit` of each page of a list.
    pub page_size: u32,
    /// The most pages read of one list.
    pub max_pages: u32,
}

impl TmfConfig {
    /// Defaults for `base_url`: 1.5 s per request, 2 MB replies, pages of 50, at most 20 pages.
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            token: None,
            timeout: Duration::from_millis(1500),
            connect_timeout: Duration::from_millis(500),
            max_body: 2 * 1024 * 1024,
            page_size: 50,
            max_pages: 20,
        }
    }
}

/// The API roots (TMF naming, v4).
mod api {
    pub const CUSTOMER: &str = "/tmf-api/customerManagement/v4";
    pub const ACCOUNT: &str = "/tmf-api/accountManagement/v4";
    pub const INVENTORY: &str = "/tmf-api/productInventory/v4";
    pub const BILL: &str = "/tmf-api/customerBillManagement/v4";
    pub const USAGE: &str = "/tmf-api/usageManagement/v4";
    pub const CATALOG: &str = "/tmf-api/productCatalogManagement/v4";
    pub const QUALIFICATION: &str = "/tmf-api/productOfferingQualification/v4";
    pub const ORDERING: &str = "/tmf-api/productOrderingManagement/v4";
    pub const SERVICE_TEST: &str = "/tmf-api/serviceTestManagement/v4";
}

/// The client. Cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct TmfClient {
    http: reqwest::Client,
    config: TmfConfig,
    base: String,
}

/// A successful reply.
struct Reply {
    total: Option<u64>,
    body: Vec<u8>,
}

/// What a request is about, for `NotFound` and logs.
#[derive(Clone, Copy)]
struct Subject<'a> {
    kind: &'static str,
    id: &'a str,
}

impl TmfClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`BssError::Invalid`] for a base URL that is not http(s), or if the HTTP client cannot be
    /// built.
    pub fn new(config: TmfConfig) -> Result<Self> {
        // Both the host root and the API root (`…/tmf-api`) are accepted.
        let trimmed = config.base_url.trim().trim_end_matches('/');
        let base = trimmed.strip_suffix("/tmf-api").unwrap_or(trimmed).to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| BssError::Invalid(format!("bss.tmf base_url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(BssError::Invalid("bss.tmf base_url must be an http(s) URL without a query".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BssError::Invalid(format!("the TMF client: {e}")))?;
        Ok(Self { http, config, base })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        subject: Subject<'_>,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let started = std::time::Instant::now();
        let mut req = self.http.request(method.clone(), &url).header("accept", "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(token) = &self.config.token {
            req = req.bearer_auth(&token.0);
        }
        if let Some(body) = body {
            let content_type =
                if method == Method::PATCH { "application/merge-patch+json" } else { "application/json" };
            req = req.header("content-type", content_type).body(body.to_string());
        }
        let outcome = self.exchange(req, subject).await;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &outcome {
            Ok(_) => tracing::debug!(target: "bss::tmf", %method, path, ms, "tmf call"),
            Err(e) => tracing::warn!(target: "bss::tmf", %method, path, ms, error = %e, "tmf call failed"),
        }
        outcome
    }

    async fn exchange(&self, req: reqwest::RequestBuilder, subject: Subject<'_>) -> Result<Reply> {
        let mut res = req.send().await.map_err(|e| self.transport(&e))?;
        let status = res.status();
        let header = |name: &str| {
            res.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok())
        };
        let total = header("x-total-count");
        if let Some(len) = header("content-length")
            && len > self.config.max_body as u64
        {
            return Err(self.too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| self.transport(&e))? {
            if body.len() + chunk.len() > self.config.max_body {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(Reply { total, body });
        }
        let error: wire::TmfError = serde_json::from_slice(&body).unwrap_or_default();
        let text = error.text();
        let code = error.code();
        Err(match status {
            StatusCode::NOT_FOUND => BssError::NotFound { kind: subject.kind, id: subject.id.to_owned() },
            StatusCode::BAD_REQUEST => BssError::Invalid(if text.is_empty() {
                "the billing system refused the request (400)".into()
            } else {
                text
            }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                BssError::Unavailable(format!("the billing system refused our credentials ({})", status.as_u16()))
            }
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                BssError::Unavailable(format!("the billing system is busy ({})", status.as_u16()))
            }
            s if s.is_client_error() => BssError::Rejected {
                code: if code.is_empty() { s.as_u16().to_string() } else { code },
                message: if text.is_empty() { format!("refused ({})", s.as_u16()) } else { text },
            },
            s => BssError::Unavailable(format!("the billing system answered {}", s.as_u16())),
        })
    }

    fn transport(&self, e: &reqwest::Error) -> BssError {
        if e.is_timeout() {
            BssError::Unavailable(format!("no answer within {} ms", self.config.timeout.as_millis()))
        } else if e.is_connect() {
            BssError::Unavailable("the billing system cannot be reached".into())
        } else {
            BssError::Unavailable("the connection to the billing system failed".into())
        }
    }

    fn too_large(&self) -> BssError {
        BssError::Malformed(format!("an answer larger than {} bytes", self.config.max_body))
    }

    fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| BssError::Malformed(format!("{what}: {e}")))
    }

    async fn get_one<T: DeserializeOwned>(&self, path: &str, fields: &str, subject: Subject<'_>) -> Result<T> {
        let reply = self.send(Method::GET, path, &[("fields", fields.to_owned())], None, subject).await?;
        Self::parse(&reply.body, subject.kind)
    }

    /// Every page of a list (at most `max` items), following `offset`/`limit` and
    /// `X-Total-Count`.
    async fn get_list<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, String)],
        fields: &str,
        max: usize,
        subject: Subject<'_>,
    ) -> Result<Vec<T>> {
        let mut out: Vec<T> = Vec::new();
        let page_size = self.config.page_size.max(1);
        for _ in 0..self.config.max_pages {
            let want = u32::try_from(max - out.len()).unwrap_or(u32::MAX).min(page_size);
            let mut query: Vec<(&str, String)> = filters.to_vec();
            query.push(("fields", fields.to_owned()));
            query.push(("offset", out.len().to_string()));
            query.push(("limit", want.to_string()));
            let reply = self.send(Method::GET, path, &query, None, subject).await?;
            let page: Vec<T> = Self::parse(&reply.body, subject.kind)?;
            let got = page.len();
            if got > want as usize {
                return Err(BssError::Malformed(format!("{got} {}s in a page of {want}", subject.kind)));
            }
            out.extend(page);
            let more = reply.total.map_or(got == want as usize, |t| (out.len() as u64) < t);
            if got == 0 || !more || out.len() >= max {
                return Ok(out);
            }
        }
        Ok(out)
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value, subject: Subject<'_>) -> Result<T> {
        let reply = self.send(Method::POST, path, &[], Some(body), subject).await?;
        Self::parse(&reply.body, subject.kind)
    }

    fn today() -> Date {
        OffsetDateTime::now_utc().date()
    }

    async fn wire_product(&self, product: &ProductRef, fields: &str) -> Result<wire::WireProduct> {
        self.get_one(
            &format!("{}/product/{product}", api::INVENTORY),
            fields,
            Subject { kind: ProductRef::KIND, id: product.as_str() },
        )
        .await
    }

    /// The catalogue's offerings (retention offers included) and their prices by id.
    async fn catalogue_raw(&self) -> Result<(Vec<wire::ProductOffering>, HashMap<String, wire::ProductOfferingPrice>)> {
        let subject = Subject { kind: "offering", id: "*" };
        let filters = [("lifecycleStatus", "Launched".to_owned())];
        let offerings: Vec<wire::ProductOffering> = self
            .get_list(&format!("{}/productOffering", api::CATALOG), &filters, wire::OFFERING_FIELDS, 1000, subject)
            .await?;
        let prices: Vec<wire::ProductOfferingPrice> = self
            .get_list(
                &format!("{}/productOfferingPrice", api::CATALOG),
                &filters,
                wire::PRICE_FIELDS,
                1000,
                Subject { kind: "offering price", id: "*" },
            )
            .await?;
        Ok((offerings, prices.into_iter().map(|p| (p.id.clone(), p)).collect()))
    }

    async fn order_by_external_id(&self, external_id: &str) -> Result<Option<Order>> {
        let found: Vec<wire::ProductOrder> = self
            .get_list(
                &format!("{}/productOrder", api::ORDERING),
                &[("externalId", external_id.to_owned())],
                wire::ORDER_FIELDS,
                1,
                Subject { kind: "order", id: external_id },
            )
            .await?;
        found.into_iter().next().map(wire::ProductOrder::into_record).transpose()
    }

    async fn adjustment_by_external_id(&self, bill: &BillRef, external_id: &str) -> Result<Option<Adjustment>> {
        let rates: Vec<wire::AppliedCustomerBillingRate> = self
            .get_list(
                &format!("{}/appliedCustomerBillingRate", api::BILL),
                &[("bill.id", bill.to_string()), ("type", wire::RATE_CREDIT.to_owned())],
                wire::RATE_FIELDS,
                1000,
                Subject { kind: BillRef::KIND, id: bill.as_str() },
            )
            .await?;
        rates
            .into_iter()
            .find(|r| r.external_id() == Some(external_id))
            .map(wire::AppliedCustomerBillingRate::into_adjustment)
            .transpose()
    }
}

fn check_external_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(BssError::Invalid("an external id is 1 to 128 characters".into()));
    }
    Ok(())
}

fn date_text(date: Date) -> String {
    date.format(&time::format_description::well_known::Iso8601::DATE).unwrap_or_default()
}

/// The first day of the month after `date`.
fn next_month(date: Date) -> Date {
    let (y, m) = if date.month() == Month::December {
        (date.year() + 1, Month::January)
    } else {
        (date.year(), date.month().next())
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(date)
}

fn money_json(m: Money) -> Value {
    // The decimal text is a valid JSON number; parsing it back keeps every digit.
    let value: Value = serde_json::from_str(&m.decimal()).unwrap_or(Value::Null);
    json!({ "unit": m.currency.as_str(), "value": value })
}

#[async_trait]
impl Bss for TmfClient {
    fn name(&self) -> &'static str {
        "tmf"
    }

    async fn find_customers(&self, lookup: &Lookup, limit: u32) -> Result<Vec<BssCustomer>> {
        let (key, value) = match lookup {
            Lookup::Phone(p) => ("contactMedium.characteristic.phoneNumber", p.clone()),
            Lookup::Email(e) => ("contactMedium.characteristic.emailAddress", e.to_lowercase()),
            Lookup::Account(a) => ("account.id", a.to_string()),
            Lookup::Name(n) => {
                if n.trim().chars().count() < 2 {
                    return Err(BssError::Invalid("a name to look up has at least 2 characters".into()));
                }
                ("name", n.trim().to_owned())
            }
        };
        if value.len() > 200 {
            return Err(BssError::Invalid("the text to look up is too long".into()));
        }
        let max = usize::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let list: Vec<wire::Customer> = self
            .get_list(
                &format!("{}/customer", api::CUSTOMER),
                &[(key, value)],
                wire::CUSTOMER_FIELDS,
                max,
                Subject { kind: CustomerRef::KIND, id: "*" },
            )
            .await?;
        list.into_iter().map(wire::Customer::into_record).collect()
    }

    async fn customer(&self, id: &CustomerRef) -> Result<BssCustomer> {
        let c: wire::Customer = self
            .get_one(
                &format!("{}/customer/{id}", api::CUSTOMER),
                wire::CUSTOMER_FIELDS,
                Subject { kind: CustomerRef::KIND, id: id.as_str() },
            )
            .await?;
        c.into_record()
    }

    async fn accounts(&self, customer: &CustomerRef) -> Result<Vec<BillingAccount>> {
        let list: Vec<wire::WireBillingAccount> = self
            .get_list(
                &format!("{}/billingAccount", api::ACCOUNT),
                &[("relatedParty.id", customer.to_string())],
                wire::ACCOUNT_FIELDS,
                100,
                Subject { kind: CustomerRef::KIND, id: customer.as_str() },
            )
            .await?;
        list.into_iter().map(wire::WireBillingAccount::into_record).collect()
    }

    async fn products(&self, customer: &CustomerRef) -> Result<Vec<Product>> {
        let list: Vec<wire::WireProduct> = self
            .get_list(
                &format!("{}/product", api::INVENTORY),
                &[("relatedParty.id", customer.to_string())],
                wire::PRODUCT_FIELDS,
                500,
                Subject { kind: CustomerRef::KIND, id: customer.as_str() },
            )
            .await?;
        list.into_iter().map(wire::WireProduct::into_record).collect()
    }

    async fn bills(&self, account: &AccountRef, limit: u32) -> Result<Vec<Bill>> {
        let max = usize::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let list: Vec<wire::CustomerBill> = self
            .get_list(
                &format!("{}/customerBill", api::BILL),
                &[("billingAccount.id", account.to_string()), ("sort", "-billDate".to_owned())],
                wire::BILL_FIELDS,
                max,
                Subject { kind: AccountRef::KIND, id: account.as_str() },
            )
            .await?;
        let today = Self::today();
        let mut bills = list
            .into_iter()
            .map(|b| {
                // A list shows bills without their lines (`bill` reads them).
                b.into_record(today).map(|mut b| {
                    b.items.clear();
                    b
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Newest first whatever the server's sort support.
        bills.sort_by_key(|b| std::cmp::Reverse(b.issued));
        Ok(bills)
    }

    async fn bill(&self, id: &BillRef) -> Result<Bill> {
        let subject = Subject { kind: BillRef::KIND, id: id.as_str() };
        let wire_bill: wire::CustomerBill =
            self.get_one(&format!("{}/customerBill/{id}", api::BILL), wire::BILL_FIELDS, subject).await?;
        let mut bill = wire_bill.into_record(Self::today())?;
        if &bill.id != id {
            return Err(BssError::Malformed(format!("asked for bill {id}, got {}", bill.id)));
        }
        let rates: Vec<wire::AppliedCustomerBillingRate> = self
            .get_list(
                &format!("{}/appliedCustomerBillingRate", api::BILL),
                &[("bill.id", id.to_string())],
                wire::RATE_FIELDS,
                1000,
                subject,
            )
            .await?;
        let open = bill.state != BillState::Settled;
        // The applied rates, then the bill's taxes.
        let mut items = rates.into_iter().map(|r| r.into_item(open)).collect::<Result<Vec<_>>>()?;
        items.append(&mut bill.items);
        bill.items = items;
        Ok(bill)
    }

    async fn usage(&self, product: &ProductRef) -> Result<Usage> {
        let p = self.wire_product(product, "id,productCharacteristic").await?;
        let today = Self::today();
        let period_start = today.replace_day(1).unwrap_or(today);
        let period_end = next_month(today).previous_day().unwrap_or(today);
        let records: Vec<wire::WireUsage> = self
            .get_list(
                &format!("{}/usage", api::USAGE),
                &[
                    ("ratedProductUsage.productRef.id", product.to_string()),
                    ("usageDate.gte", format!("{}T00:00:00Z", date_text(period_start))),
                ],
                wire::USAGE_FIELDS,
                usize::try_from(self.config.page_size).unwrap_or(50)
                    * usize::try_from(self.config.max_pages).unwrap_or(20),
                Subject { kind: ProductRef::KIND, id: product.as_str() },
            )
            .await?;
        let mut used: HashMap<UsageKind, u64> = HashMap::new();
        for r in &records {
            if let Some((kind, q)) = r.quantity()? {
                let total = used.entry(kind).or_insert(0);
                *total = total.saturating_add(q);
            }
        }
        let mut meters = Vec::new();
        for kind in [UsageKind::Data, UsageKind::Voice, UsageKind::Sms] {
            let allowance = wire::allowance_of(&p, kind)?;
            let used = used.get(&kind).copied();
            if allowance.is_some() || used.is_some() {
                meters.push(UsageMeter { kind, used: used.unwrap_or(0), allowance: allowance.flatten() });
            }
        }
        Ok(Usage { product: product.clone(), period_start, period_end, meters })
    }

    async fn catalogue(&self) -> Result<Vec<Offering>> {
        let (offerings, prices) = self.catalogue_raw().await?;
        offerings.iter().filter(|o| !o.is_retention()).map(|o| o.to_record(&prices)).collect()
    }

    async fn eligibility(&self, customer: &CustomerRef, offering: &OfferingRef) -> Result<Eligibility> {
        let body = json!({
            "@type": "ProductOfferingQualification",
            "instantSyncQualification": true,
            "provideAlternative": false,
            "provideUnavailabilityReason": true,
            "relatedParty": [{ "id": customer.as_str(), "role": "Customer", "@referredType": "Customer" }],
            "productOfferingQualificationItem": [{
                "@type": "ProductOfferingQualificationItem",
                "action": "add",
                "id": "1",
                "productOffering": { "id": offering.as_str(), "@referredType": "ProductOffering" }
            }]
        });
        let answer: wire::ProductOfferingQualification = self
            .post(
                &format!("{}/productOfferingQualification", api::QUALIFICATION),
                &body,
                Subject { kind: OfferingRef::KIND, id: offering.as_str() },
            )
            .await?;
        answer.into_record(offering.clone())
    }

    async fn changes(&self, product: &ProductRef) -> Result<Vec<ProductChange>> {
        let p = self.wire_product(product, wire::PRODUCT_FIELDS).await?.into_record()?;
        if p.status != crate::ProductStatus::Active {
            return Ok(Vec::new());
        }
        let (offerings, prices) = self.catalogue_raw().await?;
        let current = offerings
            .iter()
            .find(|o| o.id == p.offering.as_str())
            .ok_or_else(|| BssError::NotFound { kind: OfferingRef::KIND, id: p.offering.to_string() })?;
        let current_price =
            p.recurring_price.map_or_else(|| current.to_record(&prices).map(|o| o.recurring_price), Ok)?;
        let today = Self::today();
        let mut out = Vec::new();
        for (add_on, o) in current.changes(&offerings) {
            if o.is_retention() {
                continue;
            }
            let offering = o.to_record(&prices)?;
            let (kind, price_difference) = if let Some(kind) = add_on {
                (kind, offering.recurring_price)
            } else {
                if offering.kind == OfferingKind::AddOn {
                    continue;
                }
                let difference = offering
                    .recurring_price
                    .checked_add(Money::new(-current_price.minor, current_price.currency))
                    .ok_or_else(|| {
                        BssError::Malformed(format!("offering {} priced in another currency", offering.id))
                    })?;
                // An exchange for a dearer plan is an upgrade; for one that costs the same or
                // less, a downgrade.
                (if difference.minor > 0 { ChangeKind::Upgrade } else { ChangeKind::Downgrade }, difference)
            };
            // Upgrades and add-ons from today; downgrades from the next billing period.
            let effective_date = if kind == ChangeKind::Downgrade { next_month(today) } else { today };
            out.push(ProductChange { kind, product: product.clone(), offering, price_difference, effective_date });
        }
        Ok(out)
    }

    async fn retention_offers(&self, product: &ProductRef) -> Result<Vec<RetentionOffer>> {
        let p = self.wire_product(product, wire::PRODUCT_FIELDS).await?.into_record()?;
        let (offerings, prices) = self.catalogue_raw().await?;
        offerings
            .iter()
            .filter(|o| o.is_retention() && (o.family() == p.family || o.family() == crate::ProductFamily::Other))
            .map(|o| o.to_retention(&prices))
            .collect()
    }

    async fn orders(&self, customer: &CustomerRef, limit: u32) -> Result<Vec<Order>> {
        let max = usize::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let list: Vec<wire::ProductOrder> = self
            .get_list(
                &format!("{}/productOrder", api::ORDERING),
                &[("relatedParty.id", customer.to_string()), ("sort", "-orderDate".to_owned())],
                wire::ORDER_FIELDS,
                max,
                Subject { kind: CustomerRef::KIND, id: customer.as_str() },
            )
            .await?;
        let mut orders = list.into_iter().map(wire::ProductOrder::into_record).collect::<Result<Vec<_>>>()?;
        orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
        Ok(orders)
    }

    async fn place_order(&self, order: &NewOrder) -> Result<Order> {
        check_external_id(&order.external_id)?;
        if order.items.is_empty() || order.items.len() > 20 {
            return Err(BssError::Invalid("an order has 1 to 20 items".into()));
        }
        let items: Vec<Value> = order
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut product = serde_json::Map::new();
                product.insert("@type".into(), json!("Product"));
                match item.action {
                    OrderAction::Add => {
                        if let Some(base) = &item.product {
                            product.insert(
                                "productRelationship".into(),
                                json!([{ "relationshipType": wire::REL_ADD_ON_OF, "product": { "id": base.as_str() } }]),
                            );
                        }
                    }
                    OrderAction::Modify | OrderAction::Delete => {
                        if let Some(p) = &item.product {
                            product.insert("id".into(), json!(p.as_str()));
                        }
                    }
                }
                if let Some(d) = item.requested_date {
                    // TMF622 v4 writes these as date-times.
                    let key = if item.action == OrderAction::Delete { "terminationDate" } else { "startDate" };
                    product.insert(key.into(), json!(format!("{}T00:00:00Z", date_text(d))));
                }
                if let Some(reason) = &item.reason {
                    product.insert(
                        "productCharacteristic".into(),
                        json!([{ "name": wire::CHAR_TERMINATION_REASON, "valueType": "string", "value": reason }]),
                    );
                }
                let action = match item.action {
                    OrderAction::Add => "add",
                    OrderAction::Modify => "modify",
                    OrderAction::Delete => "delete",
                };
                let mut v = json!({
                    "@type": "ProductOrderItem",
                    "id": (i + 1).to_string(),
                    "quantity": 1,
                    "action": action,
                    "product": Value::Object(product),
                });
                if let Some(o) = &item.offering {
                    v["productOffering"] = json!({ "id": o.as_str(), "@referredType": "ProductOffering" });
                }
                v
            })
            .collect();
        let body = json!({
            "@type": "ProductOrder",
            "externalId": order.external_id,
            "description": order.note,
            "note": [{ "text": order.note, "author": "switchboard" }],
            "relatedParty": [{ "id": order.customer.as_str(), "role": "Customer", "@referredType": "Customer" }],
            "billingAccount": { "id": order.account.as_str(), "@referredType": "BillingAccount" },
            "productOrderItem": items,
        });
        let subject = Subject { kind: "order", id: &order.external_id };
        match self.post::<wire::ProductOrder>(&format!("{}/productOrder", api::ORDERING), &body, subject).await {
            Ok(o) => o.into_record(),
            // A timeout or a conflict may mean the order was taken: look it up by externalId.
            Err(e @ (BssError::Unavailable(_) | BssError::Rejected { .. })) => {
                match self.order_by_external_id(&order.external_id).await {
                    Ok(Some(found)) => Ok(found),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn adjust(&self, adjustment: &NewAdjustment) -> Result<Adjustment> {
        check_external_id(&adjustment.external_id)?;
        if adjustment.amount.minor == 0 {
            return Err(BssError::Invalid("an adjustment of zero".into()));
        }
        if let Some(done) = self.adjustment_by_external_id(&adjustment.bill, &adjustment.external_id).await? {
            return Ok(done);
        }
        let credit = Money::new(
            adjustment.amount.minor.checked_neg().ok_or_else(|| BssError::Invalid("amount out of range".into()))?,
            adjustment.amount.currency,
        );
        let mut characteristic = vec![
            json!({ "name": wire::CHAR_EXTERNAL_ID, "valueType": "string", "value": adjustment.external_id }),
            json!({ "name": wire::CHAR_REASON, "valueType": "string", "value": adjustment.reason }),
        ];
        if let Some(item) = &adjustment.item {
            characteristic
                .push(json!({ "name": wire::CHAR_ADJUSTED_ITEM, "valueType": "string", "value": item.as_str() }));
        }
        let body = json!({
            "@type": "AppliedCustomerBillingRate",
            "type": wire::RATE_CREDIT,
            "name": adjustment.reason,
            "description": adjustment.note,
            "isBilled": false,
            "bill": { "id": adjustment.bill.as_str(), "@referredType": "CustomerBill" },
            "billingAccount": { "id": adjustment.account.as_str(), "@referredType": "BillingAccount" },
            "taxIncludedAmount": money_json(credit),
            "characteristic": characteristic,
        });
        let subject = Subject { kind: BillRef::KIND, id: adjustment.bill.as_str() };
        match self
            .post::<wire::AppliedCustomerBillingRate>(
                &format!("{}/appliedCustomerBillingRate", api::BILL),
                &body,
                subject,
            )
            .await
        {
            Ok(r) => r.into_adjustment(),
            Err(e @ BssError::Unavailable(_)) => {
                match self.adjustment_by_external_id(&adjustment.bill, &adjustment.external_id).await {
                    Ok(Some(done)) => Ok(done),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn arrange_payment(&self, arrangement: &NewPaymentArrangement) -> Result<PaymentArrangement> {
        check_external_id(&arrangement.external_id)?;
        if arrangement.amount.minor <= 0 {
            return Err(BssError::Invalid("a payment arrangement is for a positive amount".into()));
        }
        let path = format!("{}/billingAccount/{}", api::ACCOUNT, arrangement.account);
        let subject = Subject { kind: AccountRef::KIND, id: arrangement.account.as_str() };
        let account: wire::WireBillingAccount = self.get_one(&path, "id,paymentPlan", subject).await?;
        let pay_by = date_text(arrangement.pay_by);
        let done = PaymentArrangement {
            id: format!("{}:{}", arrangement.account, arrangement.external_id),
            account: arrangement.account.clone(),
            amount: arrangement.amount,
            pay_by: arrangement.pay_by,
        };
        // The same promise (type, amount, date) already there: applied before.
        for plan in &account.payment_plan {
            let same_amount =
                plan.total_amount.as_ref().map(wire::WireMoney::money).transpose()? == Some(arrangement.amount);
            let same_date =
                plan.valid_for.as_ref().and_then(|v| v.end_date_time.as_deref()).map(wire::date_of).transpose()?
                    == Some(arrangement.pay_by);
            let live = plan.status.as_deref().is_none_or(|s| s != wire::PLAN_INEFFECTIVE);
            if plan.plan_type.as_deref() == Some(wire::PLAN_PROMISE_TO_PAY) && live && same_amount && same_date {
                return Ok(done);
            }
        }
        // A merge patch replaces the whole list: send the existing plans back with the new one.
        let reply = self.send(Method::GET, &path, &[("fields", "paymentPlan".to_owned())], None, subject).await?;
        let current: Value = Self::parse(&reply.body, "billing account")?;
        let mut plans = current.get("paymentPlan").and_then(Value::as_array).cloned().unwrap_or_default();
        plans.push(json!({
            "@type": "PaymentPlan",
            "planType": wire::PLAN_PROMISE_TO_PAY,
            "status": wire::PLAN_EFFECTIVE,
            "numberOfPayments": 1,
            "priority": 1,
            "totalAmount": money_json(arrangement.amount),
            "validFor": { "startDateTime": format!("{}T00:00:00Z", date_text(Self::today())), "endDateTime": format!("{pay_by}T23:59:59Z") },
        }));
        self.send(Method::PATCH, &path, &[], Some(&json!({ "paymentPlan": plans })), subject).await?;
        Ok(done)
    }

    async fn run_service_test(&self, product: &ProductRef) -> Result<ServiceTest> {
        let p = self.wire_product(product, "id,realizingService").await?;
        let service = p.realizing_service.first().map_or_else(|| product.to_string(), |s| s.id.clone());
        let body = json!({
            "@type": "ServiceTest",
            "name": format!("line test of {product}"),
            "mode": "ONDEMAND",
            "relatedService": { "id": service, "@referredType": "Service" },
            "testSpecification": { "id": "line-diagnostics", "@referredType": "ServiceTestSpecification" },
        });
        let subject = Subject { kind: ProductRef::KIND, id: product.as_str() };
        let mut test: wire::WireServiceTest =
            self.post(&format!("{}/serviceTest", api::SERVICE_TEST), &body, subject).await?;
        // An asynchronous test: poll for its result a few times, then report it inconclusive.
        for _ in 0..3 {
            if test.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let id = crate::ServiceTestRef::parse(&test.id).map_err(|e| BssError::Malformed(e.to_string()))?;
            test = self
                .get_one(
                    &format!("{}/serviceTest/{id}", api::SERVICE_TEST),
                    "id,state,description,endDateTime,testMeasure",
                    Subject { kind: crate::ServiceTestRef::KIND, id: id.as_str() },
                )
                .await?;
        }
        test.into_record(product.clone())
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use crate::model::iso_date;

    #[test]
    fn token_is_not_printed() {
        let mut c = TmfConfig::new("http://127.0.0.1:1");
        c.token = Some(Token::new("s3cret-token".into()));
        let text = format!("{c:?}");
        assert!(!text.contains("s3cret"), "{text}");
        let client = TmfClient::new(c).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn base_url_is_checked() {
        for bad in ["ftp://x", "not a url", "http://x/?a=b"] {
            assert!(TmfClient::new(TmfConfig::new(bad)).is_err(), "{bad}");
        }
        for root in ["https://bss.example/", "https://bss.example/tmf-api", "https://bss.example/tmf-api/"] {
            let c = TmfClient::new(TmfConfig::new(root)).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(c.base, "https://bss.example", "{root}");
        }
    }

    #[test]
    fn money_goes_out_as_an_exact_number() {
        let eur = crate::Currency::parse("EUR").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(money_json(Money::new(-1999, eur)).to_string(), r#"{"unit":"EUR","value":-19.99}"#);
        assert_eq!(
            next_month(iso_date::parse("2026-12-15").unwrap_or_else(|e| unreachable!("{e}"))).to_string(),
            "2027-01-01"
        );
    }
}
