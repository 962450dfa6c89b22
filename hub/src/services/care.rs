//! The four customer-care workflows an agent runs beside a conversation, against the operator's
//! billing system (`bss::Bss`): a new service (catalogue, eligibility at the customer's address,
//! an order with an installation date), a change to a service (the allowed changes with their
//! price difference), a bill adjustment (reason codes, per-role limits, a supervisors' approval
//! queue above them) and a discontinued service (early-termination fee, reason, retention offer
//! and its result, the marketing-consent answer).
//!
//! Every submission is stored first (`care_requests`, idempotent by the agent's key; its id is
//! the billing system's `external_id`, so sending it twice never orders or credits twice), then
//! sent, then marked applied or failed; each state it reaches is recorded on the conversation's
//! timeline (an event of its ticket, staff only). Only the conversation's assignee or a
//! supervisor acts on it (`staff::may_act_on`). The handlers write the audit entries.

use std::collections::BTreeMap;
use std::sync::Arc;

use bss::{
    AccountRef, Bill, BillItemRef, BillRef, Bss, BssError, ChangeKind, Currency, CustomerRef, Eligibility, Money,
    NewAdjustment, NewOrder, Offering, OfferingKind, OfferingRef, OrderAction, OrderItem, OrderState, Product,
    ProductChange, ProductRef, ProductStatus, RetentionOffer,
};
use schema::{
    Actor, Agent, AgentId, CareFilter, CareKind, CareRequest, CareRequestId, CareState, CareTransition, Conversation,
    ConversationId, Language, NewCareRequest, Role,
};
use time::{Date, OffsetDateTime};

use crate::config::{AdjustmentLimits, CareConfig, ReasonCode};
use crate::error::{Error, ErrorCode};
use crate::services::Core;
use crate::services::staff::{Unheld, may_act_on};

/// The longest note an agent or supervisor writes, in characters.
pub const MAX_NOTE_CHARS: usize = 1_000;
/// The longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 100;
/// How many bills of each account the adjustment form lists.
const BILLS_PER_ACCOUNT: u32 = 6;

/// A BSS failure as the hub answers it (the `bss_*` codes of the one error table), logged when
/// the billing system itself is at fault.
#[must_use]
pub fn bss_error(e: BssError) -> Error {
    if matches!(e, BssError::Unavailable(_) | BssError::Malformed(_)) {
        tracing::warn!(error = %e, "billing system call failed");
    }
    Error::from(e)
}

/// A reference typed by an agent, checked; a bad one is 422 naming `field`.
fn reference<T>(field: &'static str, text: &str, parse: fn(&str) -> Result<T, BssError>) -> Result<T, Error> {
    parse(text).map_err(|e| Error::invalid(field, e.to_string()))
}

/// An amount problem: 400 `invalid_amount` naming the field.
fn bad_amount(message: impl Into<String>) -> Error {
    Error::BadField { code: ErrorCode::InvalidAmount, field: "amount", message: message.into() }
}

/// A note: trimmed, at most [`MAX_NOTE_CHARS`], printable.
fn note(field: &'static str, text: Option<&str>, required: bool) -> Result<String, Error> {
    let text = text.unwrap_or("").trim();
    if required && text.is_empty() {
        return Err(Error::invalid(field, "write a note"));
    }
    if text.chars().count() > MAX_NOTE_CHARS || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(field, format!("at most {MAX_NOTE_CHARS} printable characters")));
    }
    Ok(text.to_owned())
}

/// An idempotency key as sent (`Idempotency-Key`), or a fresh one (no deduplication).
///
/// # Errors
/// Empty, too long or not visible ASCII (422).
pub fn idempotency_key(raw: Option<&str>) -> Result<String, Error> {
    match raw {
        None => Ok(CareRequestId::new().to_string()),
        Some(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(k.to_owned())
        }
        Some(_) => Err(Error::invalid(
            "idempotency_key",
            format!("an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )),
    }
}

/// A reason code and its label in the caller's language.
#[derive(Clone, Debug)]
pub struct Reason {
    pub code: String,
    pub labels: BTreeMap<String, String>,
}

/// What the forms offer: the reason lists and the caller's adjustment limits.
#[derive(Debug)]
pub struct Options {
    pub adjustment_reasons: Vec<Reason>,
    pub discontinue_reasons: Vec<Reason>,
    /// The caller's limit per currency (absent: every adjustment needs approval).
    pub limits: Vec<Money>,
}

/// The new-service form's data.
#[derive(Debug)]
pub struct Catalogue {
    pub offerings: Vec<Offering>,
    /// The customer's billing accounts the order may go to.
    pub accounts: Vec<AccountRef>,
}

/// An active product and what it may change to.
#[derive(Debug)]
pub struct ProductChanges {
    pub product: Product,
    pub changes: Vec<ProductChange>,
}

/// A product that can be discontinued, with its fee and the offers to keep it.
#[derive(Debug)]
pub struct Cancellable {
    pub product: Product,
    pub retention_offers: Vec<RetentionOffer>,
}

/// A new service as the agent asks for it.
#[derive(Debug, Default)]
pub struct NewServiceInput {
    pub offering: String,
    /// The billing account; absent: the customer's first account.
    pub account: Option<String>,
    pub installation_date: Option<String>,
    pub note: Option<String>,
}

/// A change to a product as the agent asks for it.
#[derive(Debug, Default)]
pub struct ModifyInput {
    pub product: String,
    /// The plan moved to, or the add-on added or removed (one of the product's allowed changes).
    pub offering: String,
    pub note: Option<String>,
}

/// A bill adjustment as the agent asks for it.
#[derive(Debug, Default)]
pub struct AdjustInput {
    pub bill: String,
    /// The item; absent: the bill as a whole.
    pub item: Option<String>,
    /// A decimal text in the bill's currency (`"12.30"`), a credit to the customer.
    pub amount: String,
    pub reason: String,
    pub note: Option<String>,
}

/// What happened to a retention offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionResult {
    /// The customer keeps the product with the offer: a modify order instead of the delete.
    Accepted,
    /// The customer still leaves: the delete order.
    Declined,
}

/// A discontinued service as the agent asks for it.
#[derive(Debug, Default)]
pub struct DiscontinueInput {
    pub product: String,
    pub reason: String,
    /// The retention offer made, if any.
    pub retention_offer: Option<String>,
    /// Required with an offer.
    pub retention_result: Option<RetentionResult>,
    /// The customer's answer to "may we keep sending you offers?"
    pub marketing_consent: Option<bool>,
    pub note: Option<String>,
}

/// A submission and whether this call changed it (a replay of a finished one did not).
#[derive(Debug)]
pub struct Outcome {
    pub request: CareRequest,
    pub changed: bool,
}

/// The adjustments report: each adjustment and the totals per currency.
#[derive(Debug)]
pub struct Report {
    pub adjustments: Vec<CareRequest>,
    /// Currency → (applied count, applied sum, pending count, pending sum).
    pub totals: Vec<CurrencyTotal>,
    /// Agent id → name, for the rows.
    pub agents: BTreeMap<AgentId, String>,
}

/// One currency's totals in the report.
#[derive(Debug, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub currency: Currency,
    pub applied_count: u64,
    pub applied: Money,
    pub pending_count: u64,
    pub pending: Money,
}

/// The conversation a workflow runs on, and its customer in the billing system.
struct Context {
    conversation: Conversation,
    customer: CustomerRef,
}

/// The care workflows.
#[derive(Debug)]
pub struct Care {
    core: Core,
    bss: Arc<dyn Bss>,
    config: CareConfig,
    limits: AdjustmentLimits,
}

fn reasons(list: &[ReasonCode]) -> Vec<Reason> {
    list.iter().map(|r| Reason { code: r.code.clone(), labels: r.labels.clone() }).collect()
}

fn summary_of(kind: CareKind, what: &str, state: CareState) -> String {
    format!("{}: {what} ({state})", kind.as_str().replace('_', " "))
}

impl Care {
    /// # Errors
    /// Adjustment limits that do not parse (checked with the configuration already).
    pub fn new(core: Core, bss: Arc<dyn Bss>, config: CareConfig) -> Result<Self, String> {
        let limits = config.limits()?;
        Ok(Self { core, bss, config, limits })
    }

    /// The reason lists and the caller's limits.
    #[must_use]
    pub fn options(&self, agent: &Agent) -> Options {
        let mut currencies: Vec<Currency> = self
            .config
            .adjustment_limits
            .values()
            .flat_map(|m| m.keys())
            .filter_map(|c| Currency::parse(c).ok())
            .collect();
        currencies.sort_unstable();
        currencies.dedup();
        let limits = currencies.into_iter().filter_map(|c| self.limits.limit(&agent.roles, c)).collect();
        Options {
            adjustment_reasons: reasons(&self.config.adjustment_reasons),
            discontinue_reasons: reasons(&self.config.discontinue_reasons),
            limits,
        }
    }

    /// The conversation, if `agent` may act on it, and its customer's id in the billing system.
    async fn context(&self, agent: &Agent, id: ConversationId) -> Result<Context, Error> {
        let conversation = self.core.store.conversation(id).await?;
        may_act_on(agent, conversation.assignee_id, Unheld::Refuse)?;
        let linked = self.core.store.customer_bss_id(conversation.customer_id).await?;
        let Some(linked) = linked else {
            return Err(Error::BadRequest {
                code: ErrorCode::CustomerNotLinked,
                message: "this customer is not linked to a customer of the billing system".into(),
            });
        };
        let customer = CustomerRef::parse(&linked).map_err(Error::internal)?;
        Ok(Context { conversation, customer })
    }

    async fn accounts(&self, customer: &CustomerRef) -> Result<Vec<AccountRef>, Error> {
        Ok(self.bss.accounts(customer).await.map_err(bss_error)?.into_iter().map(|a| a.id).collect())
    }

    async fn products(&self, customer: &CustomerRef) -> Result<Vec<Product>, Error> {
        self.bss.products(customer).await.map_err(bss_error)
    }

    /// One of the customer's active products (another's, or an unknown one, is 404).
    async fn active_product(&self, ctx: &Context, field: &'static str, text: &str) -> Result<Product, Error> {
        let wanted = reference(field, text, ProductRef::parse)?;
        let product = self
            .products(&ctx.customer)
            .await?
            .into_iter()
            .find(|p| p.id == wanted)
            .ok_or(Error::NotFound("product"))?;
        if product.status != ProductStatus::Active {
            return Err(Error::invalid(field, "the product is not active"));
        }
        Ok(product)
    }

    // ---- 1. new service -------------------------------------------------------------------

    /// The catalogue with its prices, and the customer's accounts.
    ///
    /// # Errors
    /// Not the assignee nor a supervisor (403), unknown conversation (404), customer not linked
    /// (409), the billing system fails.
    pub async fn catalogue(&self, agent: &Agent, id: ConversationId) -> Result<Catalogue, Error> {
        let ctx = self.context(agent, id).await?;
        let offerings = self.bss.catalogue().await.map_err(bss_error)?;
        let accounts = self.accounts(&ctx.customer).await?;
        Ok(Catalogue { offerings, accounts })
    }

    /// Whether `offering` can be provided at the customer's address, and the installation dates.
    ///
    /// # Errors
    /// As [`Self::catalogue`], a malformed offering (422).
    pub async fn eligibility(&self, agent: &Agent, id: ConversationId, offering: &str) -> Result<Eligibility, Error> {
        let ctx = self.context(agent, id).await?;
        let offering = reference("offering", offering, OfferingRef::parse)?;
        self.bss.eligibility(&ctx.customer, &offering).await.map_err(bss_error)
    }

    /// Orders a new service: a plan of the catalogue, eligible at the customer's address, with
    /// one of the offered installation dates when it needs one.
    ///
    /// # Errors
    /// As [`Self::catalogue`]; an unknown offering or account, a date not offered (422); not
    /// eligible (422 `bss_rejected`, nothing stored).
    pub async fn new_service(
        &self,
        agent: &Agent,
        id: ConversationId,
        input: NewServiceInput,
        key: String,
    ) -> Result<Outcome, Error> {
        let ctx = self.context(agent, id).await?;
        if let Some(done) = self.replay(agent, &key, CareKind::NewService, id).await? {
            return Ok(done);
        }
        let wanted = reference("offering", &input.offering, OfferingRef::parse)?;
        let offering = self
            .bss
            .catalogue()
            .await
            .map_err(bss_error)?
            .into_iter()
            .find(|o| o.id == wanted && o.kind == OfferingKind::Plan)
            .ok_or_else(|| Error::invalid("offering", "not a plan of the catalogue"))?;
        let accounts = self.accounts(&ctx.customer).await?;
        let account = match input.account.as_deref() {
            Some(text) => {
                let wanted = reference("account", text, AccountRef::parse)?;
                accounts.into_iter().find(|a| *a == wanted).ok_or(Error::NotFound("account"))?
            }
            None => {
                accounts.into_iter().next().ok_or_else(|| Error::invalid("account", "the customer has no account"))?
            }
        };
        let eligibility = self.bss.eligibility(&ctx.customer, &offering.id).await.map_err(bss_error)?;
        if !eligibility.eligible {
            let why = eligibility.reason.unwrap_or_else(|| "no reason given".into());
            return Err(Error::BadRequest {
                code: ErrorCode::BssRejected,
                message: format!("{} cannot be provided at the customer's address: {why}", offering.name),
            });
        }
        let date = match input.installation_date.as_deref() {
            Some(text) => Some(bss::iso_date::parse(text).map_err(|e| Error::invalid("installation_date", e))?),
            None => None,
        };
        let requested_date = if offering.requires_installation {
            let date = date.ok_or_else(|| Error::invalid("installation_date", "choose an installation date"))?;
            if !eligibility.installation_dates.contains(&date) {
                return Err(Error::invalid("installation_date", "not one of the offered installation dates"));
            }
            Some(date)
        } else {
            None
        };
        let note = note("note", input.note.as_deref(), false)?;
        let detail = serde_json::json!({
            "offering_name": offering.name,
            "recurring_price": offering.recurring_price,
            "one_time_price": offering.one_time_price,
            "installation_date": requested_date.map(|d| d.to_string()),
        });
        let new = self.new_request(agent, &ctx, key, CareKind::NewService, CareState::Approved, note, detail);
        let new =
            NewCareRequest { account_id: Some(account.to_string()), offering_id: Some(offering.id.to_string()), ..new };
        let item = OrderItem {
            action: OrderAction::Add,
            product: None,
            offering: Some(offering.id.clone()),
            requested_date,
            reason: None,
        };
        self.submit_order(agent, new, account, ctx.customer, item, &offering.name).await
    }

    // ---- 2. modify service ----------------------------------------------------------------

    /// Each active product and its allowed changes.
    ///
    /// # Errors
    /// As [`Self::catalogue`].
    pub async fn changes(&self, agent: &Agent, id: ConversationId) -> Result<Vec<ProductChanges>, Error> {
        let ctx = self.context(agent, id).await?;
        let products = self.products(&ctx.customer).await?;
        let mut out = Vec::new();
        for product in products.into_iter().filter(|p| p.status == ProductStatus::Active && p.parent.is_none()) {
            let changes = self.bss.changes(&product.id).await.map_err(bss_error)?;
            out.push(ProductChanges { product, changes });
        }
        Ok(out)
    }

    /// Orders one of a product's allowed changes: a plan change (modify, from its effective
    /// date), an add-on (add, attached to the product) or an add-on removed (delete).
    ///
    /// # Errors
    /// As [`Self::catalogue`]; another customer's product (404); a change not allowed (422).
    pub async fn modify_service(
        &self,
        agent: &Agent,
        id: ConversationId,
        input: ModifyInput,
        key: String,
    ) -> Result<Outcome, Error> {
        let ctx = self.context(agent, id).await?;
        if let Some(done) = self.replay(agent, &key, CareKind::ModifyService, id).await? {
            return Ok(done);
        }
        let product = self.active_product(&ctx, "product", &input.product).await?;
        let wanted = reference("offering", &input.offering, OfferingRef::parse)?;
        let change = self
            .bss
            .changes(&product.id)
            .await
            .map_err(bss_error)?
            .into_iter()
            .find(|c| c.offering.id == wanted)
            .ok_or_else(|| Error::invalid("offering", "not one of the product's allowed changes"))?;
        let item = match change.kind {
            ChangeKind::Upgrade | ChangeKind::Downgrade => OrderItem {
                action: OrderAction::Modify,
                product: Some(product.id.clone()),
                offering: Some(change.offering.id.clone()),
                requested_date: Some(change.effective_date),
                reason: None,
            },
            ChangeKind::AddOn => OrderItem {
                action: OrderAction::Add,
                product: Some(product.id.clone()),
                offering: Some(change.offering.id.clone()),
                requested_date: Some(change.effective_date),
                reason: None,
            },
            ChangeKind::RemoveAddOn => {
                // The add-on is a product of its own, attached to this one.
                let addon = self
                    .products(&ctx.customer)
                    .await?
                    .into_iter()
                    .find(|p| p.parent.as_ref() == Some(&product.id) && p.offering == change.offering.id)
                    .map_or_else(|| change.product.clone(), |p| p.id);
                OrderItem {
                    action: OrderAction::Delete,
                    product: Some(addon),
                    offering: Some(change.offering.id.clone()),
                    requested_date: Some(change.effective_date),
                    reason: None,
                }
            }
        };
        let note = note("note", input.note.as_deref(), false)?;
        let detail = serde_json::json!({
            "change": change.kind,
            "product_name": product.name,
            "offering_name": change.offering.name,
            "price_difference": change.price_difference,
            "effective_date": change.effective_date.to_string(),
        });
        let what = format!("{} → {}", product.name, change.offering.name);
        let new = self.new_request(agent, &ctx, key, CareKind::ModifyService, CareState::Approved, note, detail);
        let new = NewCareRequest {
            account_id: Some(product.account.to_string()),
            product_id: Some(product.id.to_string()),
            offering_id: Some(change.offering.id.to_string()),
            amount_minor: Some(change.price_difference.minor),
            currency: Some(change.price_difference.currency.to_string()),
            ..new
        };
        self.submit_order(agent, new, product.account, ctx.customer, item, &what).await
    }

    // ---- 3. bill adjustment ---------------------------------------------------------------

    /// The customer's recent bills (without items), newest first per account.
    ///
    /// # Errors
    /// As [`Self::catalogue`].
    pub async fn bills(&self, agent: &Agent, id: ConversationId) -> Result<Vec<Bill>, Error> {
        let ctx = self.context(agent, id).await?;
        let mut out = Vec::new();
        for account in self.accounts(&ctx.customer).await? {
            out.extend(self.bss.bills(&account, BILLS_PER_ACCOUNT).await.map_err(bss_error)?);
        }
        Ok(out)
    }

    /// One of the customer's bills with its items (another customer's is 404).
    ///
    /// # Errors
    /// As [`Self::catalogue`]; a malformed id (422); not this customer's bill (404).
    pub async fn bill(&self, agent: &Agent, id: ConversationId, bill: &str) -> Result<Bill, Error> {
        let ctx = self.context(agent, id).await?;
        self.customer_bill(&ctx, bill).await
    }

    async fn customer_bill(&self, ctx: &Context, bill: &str) -> Result<Bill, Error> {
        let wanted = reference("bill", bill, BillRef::parse)?;
        let bill = self.bss.bill(&wanted).await.map_err(|e| match e {
            BssError::NotFound { .. } => Error::NotFound("bill"),
            other => bss_error(other),
        })?;
        if !self.accounts(&ctx.customer).await?.contains(&bill.account) {
            return Err(Error::NotFound("bill"));
        }
        Ok(bill)
    }

    fn reason<'a>(list: &'a [ReasonCode], code: &str) -> Result<&'a ReasonCode, Error> {
        list.iter()
            .find(|r| r.code == code)
            .ok_or_else(|| Error::invalid("reason", "not one of the configured reason codes"))
    }

    /// Adjusts a bill (a credit to the customer): applied at once within the caller's limit,
    /// else stored as pending for a supervisor.
    ///
    /// # Errors
    /// As [`Self::catalogue`]; an unknown reason or an item that cannot be adjusted (422); not
    /// this customer's bill or item (404); an amount that is not a positive decimal of the
    /// bill's currency, or over the item or the bill (400 `invalid_amount`).
    pub async fn adjust(
        &self,
        agent: &Agent,
        id: ConversationId,
        input: AdjustInput,
        key: String,
    ) -> Result<Outcome, Error> {
        let ctx = self.context(agent, id).await?;
        if let Some(done) = self.replay(agent, &key, CareKind::BillAdjustment, id).await? {
            return Ok(done);
        }
        let reason = Self::reason(&self.config.adjustment_reasons, &input.reason)?.code.clone();
        let bill = self.customer_bill(&ctx, &input.bill).await?;
        let item = match input.item.as_deref() {
            Some(text) => {
                let wanted = reference("item", text, BillItemRef::parse)?;
                let item = bill.items.iter().find(|i| i.id == wanted).ok_or(Error::NotFound("bill item"))?;
                if !item.adjustable {
                    return Err(Error::invalid("item", "this item cannot be adjusted"));
                }
                Some(item)
            }
            None => None,
        };
        let currency = bill.total.currency;
        let amount =
            Money::parse_decimal(&input.amount, currency).map_err(|e| bad_amount(format!("{e} (in {currency})")))?;
        if amount.minor <= 0 {
            return Err(bad_amount("the amount must be more than zero"));
        }
        if let Some(item) = item
            && amount.minor > item.amount.minor
        {
            return Err(bad_amount("the amount is more than the item"));
        }
        if amount.minor > bill.total.minor {
            return Err(bad_amount("the amount is more than the bill's total"));
        }
        let within = self.limits.limit(&agent.roles, currency).is_some_and(|limit| amount.minor <= limit.minor);
        let state = if within { CareState::Approved } else { CareState::Pending };
        let note = note("note", input.note.as_deref(), false)?;
        let detail = serde_json::json!({
            "bill_number": bill.number,
            "item_description": item.map(|i| i.description.clone()),
            "item_amount": item.map(|i| i.amount),
            "bill_total": bill.total,
        });
        let new = self.new_request(agent, &ctx, key, CareKind::BillAdjustment, state, note, detail);
        let new = NewCareRequest {
            account_id: Some(bill.account.to_string()),
            bill_id: Some(bill.id.to_string()),
            item_id: item.map(|i| i.id.to_string()),
            amount_minor: Some(amount.minor),
            currency: Some(currency.to_string()),
            reason: Some(reason),
            ..new
        };
        let what = format!("{} {} on bill {}", decimal(amount), currency, bill.number);
        let (request, inserted) =
            self.core.store.insert_care_request(&new, &summary_of(new.kind, &what, state)).await?;
        self.count(&request, inserted);
        if !inserted {
            return self.resume(agent, request).await;
        }
        tracing::info!(request_id = %request.id, agent_id = %agent.id, amount = amount.minor, %currency, pending = !within, "bill adjustment requested");
        if request.state == CareState::Pending {
            return Ok(Outcome { request, changed: true });
        }
        self.apply_adjustment(Actor::Agent(agent.id), request).await
    }

    /// Sends an approved adjustment to the billing system and records the answer.
    async fn apply_adjustment(&self, actor: Actor, request: CareRequest) -> Result<Outcome, Error> {
        let stored = |what: &str| Error::internal(format!("care request {} has no {what}", request.id));
        let amount = amount_of(&request)?;
        let adjustment = NewAdjustment {
            account: AccountRef::parse(request.account_id.as_deref().ok_or_else(|| stored("account"))?)
                .map_err(Error::internal)?,
            bill: BillRef::parse(request.bill_id.as_deref().ok_or_else(|| stored("bill"))?).map_err(Error::internal)?,
            item: request.item_id.as_deref().map(BillItemRef::parse).transpose().map_err(Error::internal)?,
            amount,
            reason: request.reason.clone().unwrap_or_default(),
            external_id: request.id.to_string(),
            note: request.note.clone(),
        };
        let what = format!("{} {} on bill {}", decimal(amount), amount.currency, adjustment.bill);
        match self.bss.adjust(&adjustment).await {
            Ok(done) => {
                let change = CareTransition {
                    from: vec![CareState::Approved],
                    to: CareState::Applied,
                    result_ref: Some(done.id.to_string()),
                    failure: None,
                    decided_by: None,
                    decision_note: None,
                };
                let summary = summary_of(request.kind, &what, CareState::Applied);
                let request = self.transition(request.id, &change, actor, &summary).await?;
                Ok(Outcome { request, changed: true })
            }
            Err(e) => Err(self.failed(actor, &request, &what, e).await),
        }
    }

    /// Approves a pending adjustment and applies it (a supervisor, not the one who asked).
    /// An approved one whose sending failed for a passing reason is sent again.
    ///
    /// # Errors
    /// Unknown (404), not an adjustment or not pending (409), one's own request (403), the
    /// billing system fails.
    pub async fn approve(&self, supervisor: &Agent, id: CareRequestId, text: Option<&str>) -> Result<Outcome, Error> {
        let request = self.core.store.care_request(id).await?;
        Self::decidable(supervisor, &request)?;
        // The approver's own limit must cover the amount: a larger adjustment waits for someone
        // whose role allows it.
        let amount = amount_of(&request)?;
        if self.limits.limit(&supervisor.roles, amount.currency).is_none_or(|limit| amount.minor > limit.minor) {
            return Err(Error::Forbidden(format!(
                "{amount} is above your approval limit: someone whose role allows it must decide"
            )));
        }
        let decision_note = note("note", text, false)?;
        let request = if request.state == CareState::Pending {
            let change = CareTransition {
                from: vec![CareState::Pending],
                to: CareState::Approved,
                result_ref: None,
                failure: None,
                decided_by: Some(supervisor.id),
                decision_note: Some(decision_note),
            };
            let summary = summary_of(request.kind, "approved by a supervisor", CareState::Approved);
            self.transition(id, &change, Actor::Agent(supervisor.id), &summary).await?
        } else if request.state == CareState::Approved && request.decided_by.is_some() {
            request
        } else {
            return Err(Error::Conflict(format!("the request is {}", request.state)));
        };
        self.apply_adjustment(Actor::Agent(supervisor.id), request).await
    }

    /// Rejects a pending adjustment with a note.
    ///
    /// # Errors
    /// As [`Self::approve`]; no note (422).
    pub async fn reject(&self, supervisor: &Agent, id: CareRequestId, text: Option<&str>) -> Result<Outcome, Error> {
        let request = self.core.store.care_request(id).await?;
        Self::decidable(supervisor, &request)?;
        let decision_note = note("note", text, true)?;
        let change = CareTransition {
            from: vec![CareState::Pending],
            to: CareState::Rejected,
            result_ref: None,
            failure: None,
            decided_by: Some(supervisor.id),
            decision_note: Some(decision_note),
        };
        let summary = summary_of(request.kind, "rejected by a supervisor", CareState::Rejected);
        let request = self.transition(id, &change, Actor::Agent(supervisor.id), &summary).await?;
        Ok(Outcome { request, changed: true })
    }

    fn decidable(supervisor: &Agent, request: &CareRequest) -> Result<(), Error> {
        if !supervisor.has_role(Role::Supervisor) {
            return Err(Error::Forbidden("only a supervisor decides approvals".into()));
        }
        if request.kind != CareKind::BillAdjustment {
            return Err(Error::NotFound("approval"));
        }
        if request.agent_id == supervisor.id {
            return Err(Error::Forbidden("another supervisor must decide your own request".into()));
        }
        Ok(())
    }

    /// Adjustments waiting for (or past) a decision, newest first.
    ///
    /// # Errors
    /// The store fails.
    pub async fn approvals(&self, state: Option<CareState>, limit: u32) -> Result<Vec<CareRequest>, Error> {
        let filter = CareFilter { kind: Some(CareKind::BillAdjustment), state, limit, ..CareFilter::default() };
        Ok(self.core.store.care_requests(&filter).await?)
    }

    /// Every adjustment matching the filter, with totals per currency (applied and pending).
    ///
    /// # Errors
    /// The store fails.
    pub async fn report(&self, mut filter: CareFilter) -> Result<Report, Error> {
        filter.kind = Some(CareKind::BillAdjustment);
        let adjustments = self.core.store.care_requests(&filter).await?;
        let mut totals: BTreeMap<Currency, CurrencyTotal> = BTreeMap::new();
        for a in &adjustments {
            let (Some(code), Some(minor)) = (a.currency.as_deref(), a.amount_minor) else { continue };
            let Ok(currency) = Currency::parse(code) else { continue };
            let t = totals.entry(currency).or_insert_with(|| CurrencyTotal {
                currency,
                applied_count: 0,
                applied: Money::new(0, currency),
                pending_count: 0,
                pending: Money::new(0, currency),
            });
            match a.state {
                CareState::Applied => {
                    t.applied_count += 1;
                    t.applied.minor = t.applied.minor.saturating_add(minor);
                }
                CareState::Pending | CareState::Approved => {
                    t.pending_count += 1;
                    t.pending.minor = t.pending.minor.saturating_add(minor);
                }
                CareState::Rejected | CareState::Failed => {}
            }
        }
        let agents = self.core.store.agents().await?.into_iter().map(|a| (a.id, a.name.to_string())).collect();
        Ok(Report { adjustments, totals: totals.into_values().collect(), agents })
    }

    // ---- 4. discontinue service -----------------------------------------------------------

    /// The customer's active products with their early-termination fee and retention offers.
    ///
    /// # Errors
    /// As [`Self::catalogue`].
    pub async fn cancellable(&self, agent: &Agent, id: ConversationId) -> Result<Vec<Cancellable>, Error> {
        let ctx = self.context(agent, id).await?;
        let mut out = Vec::new();
        for product in self.products(&ctx.customer).await?.into_iter().filter(|p| p.status == ProductStatus::Active) {
            let retention_offers = self.bss.retention_offers(&product.id).await.map_err(bss_error)?;
            out.push(Cancellable { product, retention_offers });
        }
        Ok(out)
    }

    /// Discontinues a product (a delete order with the reason), or keeps it with an accepted
    /// retention offer (a modify order to the offer instead); records the marketing-consent
    /// answer.
    ///
    /// # Errors
    /// As [`Self::catalogue`]; another customer's product (404); an unknown reason or offer,
    /// an offer without its result, no consent answer (422).
    pub async fn discontinue(
        &self,
        agent: &Agent,
        id: ConversationId,
        input: DiscontinueInput,
        key: String,
    ) -> Result<Outcome, Error> {
        let ctx = self.context(agent, id).await?;
        if let Some(done) = self.replay(agent, &key, CareKind::DiscontinueService, id).await? {
            return Ok(done);
        }
        let reason = Self::reason(&self.config.discontinue_reasons, &input.reason)?.code.clone();
        let consent = input
            .marketing_consent
            .ok_or_else(|| Error::invalid("marketing_consent", "ask the customer and record the answer"))?;
        let product = self.active_product(&ctx, "product", &input.product).await?;
        let offer = match input.retention_offer.as_deref() {
            Some(text) => {
                let wanted = reference("retention_offer", text, OfferingRef::parse)?;
                let offer = self
                    .bss
                    .retention_offers(&product.id)
                    .await
                    .map_err(bss_error)?
                    .into_iter()
                    .find(|o| o.id == wanted)
                    .ok_or_else(|| Error::invalid("retention_offer", "not an offer for this product"))?;
                let result = input
                    .retention_result
                    .ok_or_else(|| Error::invalid("retention_result", "say whether the customer accepted the offer"))?;
                Some((offer, result))
            }
            None => None,
        };
        let accepted = matches!(offer, Some((_, RetentionResult::Accepted)));
        let item = if let Some((offer, RetentionResult::Accepted)) = &offer {
            OrderItem {
                action: OrderAction::Modify,
                product: Some(product.id.clone()),
                offering: Some(offer.id.clone()),
                requested_date: None,
                reason: Some(reason.clone()),
            }
        } else {
            OrderItem {
                action: OrderAction::Delete,
                product: Some(product.id.clone()),
                offering: None,
                requested_date: None,
                reason: Some(reason.clone()),
            }
        };
        let note = note("note", input.note.as_deref(), false)?;
        let detail = serde_json::json!({
            "product_name": product.name,
            "early_termination_fee": product.early_termination_fee,
            "retention_offer": offer.as_ref().map(|(o, _)| o.id.to_string()),
            "retention_offer_description": offer.as_ref().map(|(o, _)| o.description.clone()),
            "retention_result": offer.as_ref().map(|(_, r)| *r),
            "retained": accepted,
        });
        let fee = product.early_termination_fee.filter(|f| f.minor > 0 && !accepted);
        let what = if accepted {
            format!("{} kept with a retention offer", product.name)
        } else {
            format!("{} discontinued", product.name)
        };
        let new = self.new_request(agent, &ctx, key, CareKind::DiscontinueService, CareState::Approved, note, detail);
        let new = NewCareRequest {
            account_id: Some(product.account.to_string()),
            product_id: Some(product.id.to_string()),
            offering_id: offer.as_ref().map(|(o, _)| o.id.to_string()),
            amount_minor: fee.map(|f| f.minor),
            currency: fee.map(|f| f.currency.to_string()),
            reason: Some(reason),
            marketing_consent: Some(consent),
            ..new
        };
        self.submit_order(agent, new, product.account, ctx.customer, item, &what).await
    }

    // ---- shared ---------------------------------------------------------------------------

    /// A conversation's submissions, newest first.
    ///
    /// # Errors
    /// Not the assignee nor a supervisor (403), unknown conversation (404).
    pub async fn history(&self, agent: &Agent, id: ConversationId) -> Result<Vec<CareRequest>, Error> {
        let conversation = self.core.store.conversation(id).await?;
        may_act_on(agent, conversation.assignee_id, Unheld::Refuse)?;
        let filter = CareFilter { conversation: Some(id), limit: 100, ..CareFilter::default() };
        Ok(self.core.store.care_requests(&filter).await?)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_request(
        &self,
        agent: &Agent,
        ctx: &Context,
        key: String,
        kind: CareKind,
        state: CareState,
        note: String,
        detail: serde_json::Value,
    ) -> NewCareRequest {
        NewCareRequest {
            id: CareRequestId::new(),
            kind,
            state,
            agent_id: agent.id,
            idempotency_key: key,
            conversation_id: ctx.conversation.id,
            customer_id: ctx.conversation.customer_id,
            bss_customer_id: ctx.customer.to_string(),
            account_id: None,
            product_id: None,
            offering_id: None,
            bill_id: None,
            item_id: None,
            amount_minor: None,
            currency: None,
            reason: None,
            note,
            detail,
            marketing_consent: None,
        }
    }

    /// The submission the agent already made with `key`, if any (then finished, or sent again
    /// when a passing failure left it approved). The same key for another workflow or
    /// conversation is 409.
    async fn replay(
        &self,
        agent: &Agent,
        key: &str,
        kind: CareKind,
        conversation: ConversationId,
    ) -> Result<Option<Outcome>, Error> {
        let Some(existing) = self.core.store.care_request_by_key(agent.id, key).await? else { return Ok(None) };
        if existing.kind != kind || existing.conversation_id != conversation {
            return Err(Error::Conflict("this idempotency key was used for another request".into()));
        }
        self.resume(agent, existing).await.map(Some)
    }

    /// A stored submission found again: finished or pending, as it is; approved (a passing
    /// failure interrupted it), sent again (the billing system deduplicates by its id).
    async fn resume(&self, agent: &Agent, request: CareRequest) -> Result<Outcome, Error> {
        if request.state != CareState::Approved {
            return Ok(Outcome { request, changed: false });
        }
        match request.kind {
            CareKind::BillAdjustment => self.apply_adjustment(Actor::Agent(agent.id), request).await,
            _ => {
                let order: NewOrder = serde_json::from_value(request.detail["order"].clone())
                    .map_err(|e| Error::internal(format!("care request {}: stored order: {e}", request.id)))?;
                let what = request.detail["what"].as_str().unwrap_or("order").to_owned();
                self.place(Actor::Agent(agent.id), request, &order, &what).await
            }
        }
    }

    /// Stores an order's submission and places it.
    async fn submit_order(
        &self,
        agent: &Agent,
        mut new: NewCareRequest,
        account: AccountRef,
        customer: CustomerRef,
        item: OrderItem,
        what: &str,
    ) -> Result<Outcome, Error> {
        let order = NewOrder {
            customer,
            account,
            items: vec![item],
            external_id: new.id.to_string(),
            note: format!("by {} from conversation {}", agent.name, new.conversation_id),
        };
        if let serde_json::Value::Object(map) = &mut new.detail {
            map.insert("order".into(), serde_json::to_value(&order).map_err(Error::internal)?);
            map.insert("what".into(), what.into());
        }
        let (request, inserted) =
            self.core.store.insert_care_request(&new, &summary_of(new.kind, what, new.state)).await?;
        self.count(&request, inserted);
        if !inserted {
            return self.resume(agent, request).await;
        }
        tracing::info!(request_id = %request.id, agent_id = %agent.id, kind = %request.kind, "care order submitted");
        self.place(Actor::Agent(agent.id), request, &order, what).await
    }

    /// Places a stored order and records the answer.
    async fn place(&self, actor: Actor, request: CareRequest, order: &NewOrder, what: &str) -> Result<Outcome, Error> {
        match self.bss.place_order(order).await {
            Ok(placed) if matches!(placed.state, OrderState::Rejected | OrderState::Failed | OrderState::Cancelled) => {
                let e = BssError::Rejected {
                    code: format!("{:?}", placed.state).to_lowercase(),
                    message: format!("order {} was {:?}", placed.id, placed.state).to_lowercase(),
                };
                Err(self.failed(actor, &request, what, e).await)
            }
            Ok(placed) => {
                let change = CareTransition {
                    from: vec![CareState::Approved],
                    to: CareState::Applied,
                    result_ref: Some(placed.id.to_string()),
                    failure: None,
                    decided_by: None,
                    decision_note: None,
                };
                let summary = summary_of(request.kind, &format!("{what}, order {}", placed.id), CareState::Applied);
                let request = self.transition(request.id, &change, actor, &summary).await?;
                Ok(Outcome { request, changed: true })
            }
            Err(e) => Err(self.failed(actor, &request, what, e).await),
        }
    }

    /// Records a refusal of the billing system (a passing failure leaves the request approved,
    /// to be sent again), and returns the error to answer.
    async fn failed(&self, actor: Actor, request: &CareRequest, what: &str, e: BssError) -> Error {
        if e.is_transient() {
            return bss_error(e);
        }
        let change = CareTransition {
            from: vec![CareState::Approved],
            to: CareState::Failed,
            result_ref: None,
            failure: Some(e.to_string()),
            decided_by: None,
            decision_note: None,
        };
        let summary = summary_of(request.kind, what, CareState::Failed);
        if let Err(store) = self.transition(request.id, &change, actor, &summary).await {
            tracing::error!(request_id = %request.id, error = %store, "cannot record a refused care request");
        }
        bss_error(e)
    }

    /// Moves a submission on (the store records it on the timeline) and counts the state reached.
    async fn transition(
        &self,
        id: CareRequestId,
        change: &CareTransition,
        actor: Actor,
        summary: &str,
    ) -> Result<CareRequest, schema::StoreError> {
        let request = self.core.store.transition_care_request(id, change, actor, summary).await?;
        self.count(&request, true);
        Ok(request)
    }

    fn count(&self, request: &CareRequest, changed: bool) {
        if changed {
            self.core.metrics.care_requests.with_label_values(&[request.kind.as_str(), request.state.as_str()]).inc();
        }
    }

    /// The label of a reason code in `language` (English when it has none).
    #[must_use]
    pub fn reason_label(&self, code: &str, language: Language) -> Option<String> {
        self.config
            .adjustment_reasons
            .iter()
            .chain(&self.config.discontinue_reasons)
            .find(|r| r.code == code)
            .and_then(|r| r.labels.get(language.as_str()).or_else(|| r.labels.get("en")).cloned())
    }
}

/// `minor` as a decimal text of its currency (`1230` EUR → `12.30`).
#[must_use]
pub fn decimal(m: Money) -> String {
    let exp = u32::from(m.currency.exponent());
    let scale = 10_i64.pow(exp);
    let sign = if m.minor < 0 { "-" } else { "" };
    let abs = m.minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    if exp == 0 {
        format!("{sign}{abs}")
    } else {
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = exp as usize)
    }
}

/// A date of the reports' filters (`YYYY-MM-DD`): the start of that day, UTC.
///
/// # Errors
/// Not a date (422 naming `field`).
pub fn day_start(field: &'static str, text: &str) -> Result<OffsetDateTime, Error> {
    let date: Date = bss::iso_date::parse(text).map_err(|e| Error::invalid(field, e))?;
    Ok(date.midnight().assume_utc())
}

/// The amount of an adjustment request, as stored.
fn amount_of(request: &CareRequest) -> Result<Money, Error> {
    let stored = |what: &str| Error::internal(format!("care request {} has no {what}", request.id));
    let currency =
        Currency::parse(request.currency.as_deref().ok_or_else(|| stored("currency"))?).map_err(Error::internal)?;
    Ok(Money::new(request.amount_minor.ok_or_else(|| stored("amount"))?, currency))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decimals_follow_the_currency() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(decimal(Money::new(1230, eur)), "12.30");
        assert_eq!(decimal(Money::new(-5, eur)), "-0.05");
        assert_eq!(decimal(Money::new(7, Currency::parse("JPY").unwrap())), "7");
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        assert_eq!(idempotency_key(Some("abc-1")).unwrap(), "abc-1");
        assert!(idempotency_key(None).unwrap().len() > 10);
        for bad in ["", "a b", "é", &"x".repeat(101)] {
            assert!(idempotency_key(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn notes_are_bounded() {
        assert_eq!(note("note", Some("  hi "), true).unwrap(), "hi");
        assert!(note("note", None, true).is_err());
        assert_eq!(note("note", None, false).unwrap(), "");
        assert!(note("note", Some(&"x".repeat(1001)), false).is_err());
        assert!(note("note", Some("a\u{7}"), false).is_err());
    }
}
