//! The TM Forum resources as they arrive on the wire (v4 shapes: camelCase fields, `@type`,
//! `Money {unit, value}`, `TimePeriod`), and their mapping to the crate's records.
//!
//! Parsing is strict where the hub relies on a field (an `id`, a price, a date) and lenient
//! elsewhere: unknown fields are ignored, an absent or `null` list is empty. A reply that is not
//! what the specification documents becomes [`BssError::Malformed`], never a panic. Every
//! attribute and enumerated value here was checked against the v4 swagger files docs/bss.md
//! names.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use time::{Date, OffsetDateTime};

use crate::model::iso_date;
use crate::{
    AccountRef, Address, Adjustment, AdjustmentRef, Bill, BillItem, BillItemKind, BillItemRef, BillRef, BillState,
    BillingAccount, BssCustomer, BssError, ChangeKind, ContactKind, ContactPoint, Currency, CustomerRef, Money,
    Offering, OfferingKind, OfferingRef, Order, OrderAction, OrderItem, OrderRef, OrderState, PaymentKind, Product,
    ProductFamily, ProductRef, ProductStatus, Result, RetentionOffer, ServiceTest, ServiceTestRef, TestMeasure,
    TestVerdict, UsageKind,
};

fn bad(what: impl std::fmt::Display) -> BssError {
    BssError::Malformed(what.to_string())
}

/// A list that may be absent or `null` (both read as empty).
fn null_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A reference to another resource (`{id, href, name, @referredType}`).
#[derive(Debug, Deserialize)]
pub struct Ref {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A `…RefOrValue` (TMF637 `ProductRefOrValue`): an entity given by reference or by value, so
/// its `id` may be absent.
#[derive(Debug, Deserialize)]
pub struct RefOrValue {
    #[serde(default)]
    pub id: Option<String>,
}

/// `Money {unit, value}`. The value is kept as the JSON text of the number so that it converts
/// to minor units exactly (`19.99` never becomes `19.989999…`).
#[derive(Debug, Deserialize)]
pub struct WireMoney {
    pub unit: String,
    pub value: Box<RawValue>,
}

impl WireMoney {
    pub fn money(&self) -> Result<Money> {
        let currency =
            Currency::parse(&self.unit).map_err(|_| bad(format!("money unit {:?} is not ISO 4217", self.unit)))?;
        let raw = self.value.get();
        // The specification writes a number; a quoted decimal (some implementations) is read too.
        let text = raw.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(raw);
        let text = trim_fraction_zeros(text);
        Money::parse_decimal(text, currency).map_err(|e| bad(format!("money value {raw}: {e}")))
    }
}

/// `12.300` → `12.3`, `5.0` → `5`: trailing zeros of a fraction carry no value.
fn trim_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        let t = text.trim_end_matches('0');
        t.strip_suffix('.').unwrap_or(t)
    } else {
        text
    }
}

/// `TimePeriod {startDateTime, endDateTime}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimePeriod {
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
}

/// The calendar date of a TMF date or date-time (`2026-11-29` or `2026-11-29T10:00:00Z`).
pub fn date_of(text: &str) -> Result<Date> {
    let day = match text.as_bytes().get(10) {
        None => text,
        Some(b'T' | b't' | b' ') => text.get(..10).unwrap_or(text),
        Some(_) => return Err(bad(format!("{text:?} is not a date"))),
    };
    iso_date::parse(day).map_err(|e| bad(format!("{text:?}: {e}")))
}

fn opt_date(text: Option<&String>) -> Result<Option<Date>> {
    text.map(|t| date_of(t)).transpose()
}

fn instant_of(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad(format!("{text:?} is not an RFC 3339 date-time")))
}

fn reference<T>(parse: fn(&str) -> Result<T>, id: &str) -> Result<T> {
    parse(id).map_err(|e| bad(format!("id {id:?}: {e}")))
}

/// `Characteristic {name, value}` (TMF629 `characteristic`, TMF637 `productCharacteristic`).
#[derive(Debug, Deserialize)]
pub struct Characteristic {
    pub name: String,
    #[serde(default)]
    pub value: Value,
}

/// A JSON number that is a whole, non-negative count (`12` or `12.0`: TMF `Quantity.amount` is a
/// float).
fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        // 2^53: beyond it a float no longer holds every whole number.
        (f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0).then(|| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = f as u64;
            n
        })
    })
}

fn characteristic<'a>(list: &'a [Characteristic], name: &str) -> Option<&'a Value> {
    list.iter().find(|c| c.name.eq_ignore_ascii_case(name)).map(|c| &c.value)
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------- TMF629 Customer

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub engaged_party: Option<Ref>,
    #[serde(default, deserialize_with = "null_vec")]
    pub contact_medium: Vec<ContactMedium>,
    #[serde(default, deserialize_with = "null_vec")]
    pub characteristic: Vec<Characteristic>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactMedium {
    pub medium_type: String,
    #[serde(default)]
    pub preferred: Option<bool>,
    #[serde(default)]
    pub characteristic: Option<MediumCharacteristic>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediumCharacteristic {
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub street1: Option<String>,
    #[serde(default)]
    pub street2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub post_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

/// The fields of a customer the client asks for (`fields=`).
pub const CUSTOMER_FIELDS: &str = "id,name,status,engagedParty,contactMedium,characteristic";

impl Customer {
    pub fn into_record(self) -> Result<BssCustomer> {
        let id = reference(CustomerRef::parse, &self.id)?;
        let name = self
            .name
            .filter(|n| !n.trim().is_empty())
            .or_else(|| self.engaged_party.and_then(|p| p.name))
            .ok_or_else(|| bad(format!("customer {id} has no name")))?;
        let mut contacts = Vec::new();
        let mut address = None;
        for medium in self.contact_medium {
            let preferred = medium.preferred.unwrap_or(false);
            let c = medium.characteristic.unwrap_or_default();
            match medium.medium_type.to_ascii_lowercase().as_str() {
                "email" | "emailaddress" => {
                    if let Some(value) = c.email_address {
                        contacts.push(ContactPoint { kind: ContactKind::Email, value, preferred });
                    }
                }
                "phone" | "telephone" | "telephonenumber" | "mobile" | "mobilenumber" => {
                    if let Some(value) = c.phone_number {
                        contacts.push(ContactPoint { kind: ContactKind::Phone, value, preferred });
                    }
                }
                "postaladdress" | "postal" | "address" if address.is_none() => {
                    let street = match (c.street1, c.street2) {
                        (Some(a), Some(b)) if !b.is_empty() => format!("{a}, {b}"),
                        (Some(a), _) => a,
                        (None, _) => String::new(),
                    };
                    address = Some(Address {
                        street,
                        city: c.city.unwrap_or_default(),
                        postcode: c.post_code.unwrap_or_default(),
                        country: c.country.unwrap_or_default(),
                    });
                }
                _ => {}
            }
        }
        let segment = characteristic(&self.characteristic, "segment")
            .and_then(text_of)
            .map_or_else(|| "standard".to_owned(), |s| s.to_ascii_lowercase());
        Ok(BssCustomer {
            id,
            name,
            status: self.status.map_or_else(|| "active".to_owned(), |s| s.to_ascii_lowercase()),
            segment,
            contacts,
            address,
        })
    }
}

// ---------------------------------------------------------------- TMF666 BillingAccount

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireBillingAccount {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// Not in TMF666 v4.0.0; the attribute v5 added for prepaid/postpaid (see docs/bss.md).
    #[serde(default)]
    pub rating_type: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub account_balance: Vec<AccountBalance>,
    #[serde(default, deserialize_with = "null_vec")]
    pub payment_plan: Vec<PaymentPlan>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalance {
    pub balance_type: String,
    pub amount: WireMoney,
    #[serde(default)]
    pub valid_for: Option<TimePeriod>,
}

/// TMF666 `PaymentPlan`: how the client records a promise to pay (`status` is `effective` or
/// `ineffective` in v4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPlan {
    #[serde(default)]
    pub plan_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub total_amount: Option<WireMoney>,
    #[serde(default)]
    pub valid_for: Option<TimePeriod>,
}

pub const ACCOUNT_FIELDS: &str = "id,name,state,ratingType,accountBalance";
/// `PaymentPlan.status` values (TMF666 v4: "effective, ineffective").
pub const PLAN_EFFECTIVE: &str = "effective";
pub const PLAN_INEFFECTIVE: &str = "ineffective";
/// The `planType` of a promise to pay (operator convention, see docs/bss.md).
pub const PLAN_PROMISE_TO_PAY: &str = "promiseToPay";

/// The `balanceType` of the current balance and of its overdue part (operator conventions,
/// see docs/bss.md).
pub const BALANCE_TOTAL: &str = "totalBalance";
pub const BALANCE_OVERDUE: &str = "overdueBalance";

impl WireBillingAccount {
    pub fn into_record(self) -> Result<BillingAccount> {
        let id = reference(AccountRef::parse, &self.id)?;
        let kind = match self.rating_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("prepaid") => PaymentKind::Prepaid,
            Some("postpaid") | None => PaymentKind::Postpaid,
            Some(other) => return Err(bad(format!("account {id}: ratingType {other:?}"))),
        };
        let mut balance = None;
        let mut overdue = None;
        let mut due_date = None;
        for b in &self.account_balance {
            if b.balance_type.eq_ignore_ascii_case(BALANCE_TOTAL) {
                balance = Some(b.amount.money()?);
                due_date = opt_date(b.valid_for.as_ref().and_then(|v| v.end_date_time.as_ref()))?;
            } else if b.balance_type.eq_ignore_ascii_case(BALANCE_OVERDUE) {
                overdue = Some(b.amount.money()?);
            }
        }
        let balance = balance.ok_or_else(|| bad(format!("account {id} has no {BALANCE_TOTAL}")))?;
        let overdue = overdue.unwrap_or(Money::new(0, balance.currency));
        if overdue.currency != balance.currency {
            return Err(bad(format!("account {id}: balances in two currencies")));
        }
        Ok(BillingAccount {
            name: self.name.unwrap_or_else(|| id.to_string()),
            id,
            kind,
            status: self.state.map_or_else(|| "active".to_owned(), |s| s.to_ascii_lowercase()),
            balance,
            overdue,
            due_date,
        })
    }
}

// ---------------------------------------------------------------- TMF637 Product

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireProduct {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub product_serial_number: Option<String>,
    #[serde(default)]
    pub product_offering: Option<Ref>,
    #[serde(default)]
    pub billing_account: Option<Ref>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_characteristic: Vec<Characteristic>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_price: Vec<ProductPrice>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_term: Vec<ProductTerm>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_relationship: Vec<ProductRelationship>,
    #[serde(default, deserialize_with = "null_vec")]
    pub realizing_service: Vec<Ref>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductPrice {
    #[serde(default)]
    pub price_type: Option<String>,
    pub price: Price,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    #[serde(default)]
    pub tax_included_amount: Option<WireMoney>,
    #[serde(default)]
    pub duty_free_amount: Option<WireMoney>,
}

impl Price {
    fn money(&self) -> Result<Money> {
        self.tax_included_amount
            .as_ref()
            .or(self.duty_free_amount.as_ref())
            .ok_or_else(|| bad("a price without an amount"))?
            .money()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductTerm {
    #[serde(default)]
    pub valid_for: Option<TimePeriod>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRelationship {
    pub relationship_type: String,
    pub product: RefOrValue,
}

impl ProductRelationship {
    /// The related product's id when this is an add-on's link to its base product.
    fn add_on_of(&self) -> Result<Option<ProductRef>> {
        if !self.relationship_type.eq_ignore_ascii_case(REL_ADD_ON_OF) {
            return Ok(None);
        }
        let id = self
            .product
            .id
            .as_deref()
            .ok_or_else(|| bad(format!("an {REL_ADD_ON_OF} relationship without a product id")))?;
        reference(ProductRef::parse, id).map(Some)
    }
}

fn add_on_parent(list: &[ProductRelationship]) -> Result<Option<ProductRef>> {
    for r in list {
        if let Some(p) = r.add_on_of()? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

pub const PRODUCT_FIELDS: &str = "id,name,status,startDate,productSerialNumber,productOffering,billingAccount,\
productCharacteristic,productPrice,productTerm,productRelationship";

/// The `productCharacteristic` naming the product's family (`mobile`, `fibre`, `tv`, `landline`).
pub const CHAR_SERVICE_TYPE: &str = "serviceType";
/// The `productCharacteristic` holding the line's number (mobile, landline).
pub const CHAR_MSISDN: &str = "msisdn";
/// The `productPrice.priceType` of the early-termination fee.
pub const PRICE_PENALTY: &str = "penalty";
/// The `productRelationship.relationshipType` of an add-on to its base product.
pub const REL_ADD_ON_OF: &str = "addOnOf";

pub fn family_of(text: Option<&str>) -> ProductFamily {
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("mobile") => ProductFamily::Mobile,
        Some("fibre" | "fiber" | "broadband") => ProductFamily::Fibre,
        Some("tv" | "iptv") => ProductFamily::Tv,
        Some("landline" | "fixedvoice") => ProductFamily::Landline,
        _ => ProductFamily::Other,
    }
}

impl WireProduct {
    pub fn into_record(self) -> Result<Product> {
        let id = reference(ProductRef::parse, &self.id)?;
        let account = reference(
            AccountRef::parse,
            &self.billing_account.as_ref().ok_or_else(|| bad(format!("product {id} has no billingAccount")))?.id,
        )?;
        let offering_ref =
            self.product_offering.as_ref().ok_or_else(|| bad(format!("product {id} has no productOffering")))?;
        let offering = reference(OfferingRef::parse, &offering_ref.id)?;
        // v4.0.0's `ProductStatusType` spells one value `"aborted "`: compare trimmed.
        let status = match self.status.as_deref().map_or("active", str::trim) {
            "created" | "pendingActive" => ProductStatus::Pending,
            "active" | "pendingTerminate" => ProductStatus::Active,
            "suspended" => ProductStatus::Suspended,
            "terminated" | "cancelled" | "aborted" => ProductStatus::Terminated,
            other => return Err(bad(format!("product {id}: status {other:?}"))),
        };
        let family = family_of(characteristic(&self.product_characteristic, CHAR_SERVICE_TYPE).and_then(Value::as_str));
        let identifier =
            characteristic(&self.product_characteristic, CHAR_MSISDN).and_then(text_of).or(self.product_serial_number);
        let mut recurring_price = None;
        let mut early_termination_fee = None;
        for p in &self.product_price {
            match p.price_type.as_deref() {
                Some("recurring") if recurring_price.is_none() => recurring_price = Some(p.price.money()?),
                Some(PRICE_PENALTY) => early_termination_fee = Some(p.price.money()?),
                _ => {}
            }
        }
        let commitment_end = opt_date(
            self.product_term.first().and_then(|t| t.valid_for.as_ref()).and_then(|v| v.end_date_time.as_ref()),
        )?;
        let parent = add_on_parent(&self.product_relationship)?;
        Ok(Product {
            name: self.name.or_else(|| offering_ref.name.clone()).unwrap_or_else(|| offering.to_string()),
            id,
            account,
            offering,
            family,
            status,
            identifier,
            start_date: opt_date(self.start_date.as_ref())?,
            recurring_price,
            commitment_end,
            early_termination_fee,
            parent,
        })
    }
}

// ---------------------------------------------------------------- TMF678 CustomerBill

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerBill {
    pub id: String,
    #[serde(default)]
    pub bill_no: Option<String>,
    pub bill_date: String,
    #[serde(default)]
    pub payment_due_date: Option<String>,
    #[serde(default)]
    pub billing_period: Option<TimePeriod>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub amount_due: Option<WireMoney>,
    #[serde(default)]
    pub tax_included_amount: Option<WireMoney>,
    #[serde(default)]
    pub remaining_amount: Option<WireMoney>,
    #[serde(default, deserialize_with = "null_vec")]
    pub tax_item: Vec<TaxItem>,
    pub billing_account: Ref,
}

/// TMF678 `TaxItem {taxCategory, taxRate, taxAmount}`: one tax of a bill.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxItem {
    #[serde(default)]
    pub tax_category: Option<String>,
    #[serde(default)]
    pub tax_rate: Option<Value>,
    pub tax_amount: WireMoney,
}

pub const BILL_FIELDS: &str = "id,billNo,billDate,paymentDueDate,billingPeriod,state,amountDue,taxIncludedAmount,\
remainingAmount,taxItem,billingAccount";

impl CustomerBill {
    pub fn into_record(self, today: Date) -> Result<Bill> {
        let id = reference(BillRef::parse, &self.id)?;
        let account = reference(AccountRef::parse, &self.billing_account.id)?;
        let total = self
            .amount_due
            .as_ref()
            .or(self.tax_included_amount.as_ref())
            .ok_or_else(|| bad(format!("bill {id} has no amountDue")))?
            .money()?;
        let unpaid = self.remaining_amount.as_ref().map(WireMoney::money).transpose()?.unwrap_or(total);
        let issued = date_of(&self.bill_date)?;
        let due = opt_date(self.payment_due_date.as_ref())?.unwrap_or(issued);
        let period = self.billing_period.unwrap_or_default();
        let period_start = opt_date(period.start_date_time.as_ref())?.unwrap_or(issued);
        let period_end = opt_date(period.end_date_time.as_ref())?.unwrap_or(issued);
        // TMF678 v4 `stateValue`: new, onHold, validated, sent, partiallyPaid, settled.
        let state = match self.state.as_deref().unwrap_or("new") {
            "settled" => BillState::Settled,
            "new" | "onHold" | "validated" | "sent" | "partiallyPaid" if unpaid.minor > 0 && due < today => {
                BillState::Overdue
            }
            "partiallyPaid" => BillState::PartiallyPaid,
            "new" | "onHold" | "validated" | "sent" => BillState::New,
            other => return Err(bad(format!("bill {id}: state {other:?}"))),
        };
        // The bill's taxes are its `taxItem` list: each becomes a tax line of the bill.
        let mut items = Vec::with_capacity(self.tax_item.len());
        for (n, t) in self.tax_item.iter().enumerate() {
            let rate = t.tax_rate.as_ref().and_then(text_of);
            let description = match (t.tax_category.as_deref(), rate) {
                (Some(c), Some(r)) => format!("{c} ({r})"),
                (Some(c), None) => c.to_owned(),
                (None, Some(r)) => format!("tax ({r})"),
                (None, None) => "tax".to_owned(),
            };
            items.push(BillItem {
                id: reference(BillItemRef::parse, &format!("{id}:tax:{}", n + 1))?,
                kind: BillItemKind::Tax,
                description,
                amount: t.tax_amount.money()?,
                product: None,
                adjustable: false,
            });
        }
        Ok(Bill {
            number: self.bill_no.unwrap_or_else(|| id.to_string()),
            id,
            account,
            state,
            period_start,
            period_end,
            issued,
            due,
            total,
            unpaid,
            items,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedCustomerBillingRate {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub bill: Option<Ref>,
    #[serde(default)]
    pub product: Option<Ref>,
    #[serde(default)]
    pub period_coverage: Option<TimePeriod>,
    #[serde(default)]
    pub tax_included_amount: Option<WireMoney>,
    #[serde(default)]
    pub tax_excluded_amount: Option<WireMoney>,
    #[serde(default, deserialize_with = "null_vec")]
    pub characteristic: Vec<Characteristic>,
}

pub const RATE_FIELDS: &str =
    "id,name,description,type,date,bill,product,periodCoverage,taxIncludedAmount,taxExcludedAmount,characteristic";
/// The `type` of a credit on a bill (TMF678 v4: "appliedBillingCredit (any kind of credit)"):
/// an adjustment is one carrying the [`CHAR_REASON`] characteristic.
pub const RATE_CREDIT: &str = "appliedBillingCredit";
pub const CHAR_EXTERNAL_ID: &str = "externalId";
pub const CHAR_ADJUSTED_ITEM: &str = "adjustedItem";
pub const CHAR_REASON: &str = "reasonCode";

impl AppliedCustomerBillingRate {
    fn money_of(&self, first: Option<&WireMoney>, second: Option<&WireMoney>) -> Result<Money> {
        first.or(second).ok_or_else(|| bad(format!("bill item {} has no amount", self.id)))?.money()
    }

    /// The kind of line, from the `type` values TMF678 v4 documents: `appliedBillingCharge`
    /// (`recurringCharge`, `oneTimeCharge`, `usageCharge`), `appliedBillingCredit` (`rebate`,
    /// `productAlteration`) and `appliedPenaltyCharge`.
    fn line_kind(&self) -> Result<BillItemKind> {
        Ok(match self.kind.as_deref() {
            Some("recurringCharge") => BillItemKind::Recurring,
            Some("usageCharge") => BillItemKind::Usage,
            Some("oneTimeCharge" | "appliedPenaltyCharge") => BillItemKind::OneTime,
            // A charge of no finer type: recurring when it covers a period.
            Some("appliedBillingCharge") if self.period_coverage.is_some() => BillItemKind::Recurring,
            Some("appliedBillingCharge") => BillItemKind::OneTime,
            Some(RATE_CREDIT) if self.is_adjustment() => BillItemKind::Adjustment,
            Some(RATE_CREDIT | "rebate" | "productAlteration") => BillItemKind::Discount,
            other => return Err(bad(format!("bill item {}: type {other:?}", self.id))),
        })
    }

    fn is_adjustment(&self) -> bool {
        characteristic(&self.characteristic, CHAR_REASON).is_some()
    }

    /// A line of the bill: its amount before tax (the bill's `taxItem` list carries the taxes),
    /// or with tax when the rate gives only that.
    pub fn into_item(self, bill_open: bool) -> Result<BillItem> {
        let id = reference(BillItemRef::parse, &self.id)?;
        let kind = self.line_kind()?;
        let amount = self.money_of(self.tax_excluded_amount.as_ref(), self.tax_included_amount.as_ref())?;
        let product = self.product.as_ref().map(|p| reference(ProductRef::parse, &p.id)).transpose()?;
        let adjustable =
            bill_open && matches!(kind, BillItemKind::Recurring | BillItemKind::Usage | BillItemKind::OneTime);
        Ok(BillItem {
            id,
            kind,
            description: self.description.or(self.name).unwrap_or_default(),
            amount,
            product,
            adjustable,
        })
    }

    /// This credit as an adjustment (its amount, with tax, negated: a credit on the bill is
    /// negative, a credit to the customer positive).
    pub fn into_adjustment(self) -> Result<Adjustment> {
        let id = reference(AdjustmentRef::parse, &self.id)?;
        let bill = reference(
            BillRef::parse,
            &self.bill.as_ref().ok_or_else(|| bad(format!("adjustment {id} has no bill")))?.id,
        )?;
        let amount = self.money_of(self.tax_included_amount.as_ref(), self.tax_excluded_amount.as_ref())?;
        let item = characteristic(&self.characteristic, CHAR_ADJUSTED_ITEM)
            .and_then(Value::as_str)
            .map(|i| reference(BillItemRef::parse, i))
            .transpose()?;
        let reason =
            characteristic(&self.characteristic, CHAR_REASON).and_then(text_of).or(self.name).unwrap_or_default();
        let created_at = match &self.date {
            Some(d) => instant_of(d)?,
            None => OffsetDateTime::now_utc(),
        };
        Ok(Adjustment {
            id,
            bill,
            item,
            amount: Money::new(amount.minor.checked_neg().ok_or_else(|| bad("amount out of range"))?, amount.currency),
            reason,
            created_at,
        })
    }

    pub fn external_id(&self) -> Option<&str> {
        characteristic(&self.characteristic, CHAR_EXTERNAL_ID).and_then(Value::as_str)
    }
}

// ---------------------------------------------------------------- TMF635 Usage

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUsage {
    #[serde(default)]
    pub usage_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub usage_characteristic: Vec<Characteristic>,
}

pub const USAGE_FIELDS: &str = "id,usageDate,usageType,status,usageCharacteristic";
/// The `usageCharacteristic` with the quantity (megabytes, minutes or messages).
pub const CHAR_QUANTITY: &str = "quantity";

impl WireUsage {
    /// The meter and quantity of one usage record; `None` for a type the hub does not meter
    /// and for a record the billing system `rejected`.
    pub fn quantity(&self) -> Result<Option<(UsageKind, u64)>> {
        // TMF635 v4 `UsageStatusType`.
        match self.status.as_deref() {
            None | Some("received" | "recycled" | "guided" | "rated" | "rerated" | "billed") => {}
            Some("rejected") => return Ok(None),
            Some(other) => return Err(bad(format!("usage status {other:?}"))),
        }
        let kind = match self.usage_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("data") => UsageKind::Data,
            Some("voice" | "call") => UsageKind::Voice,
            Some("sms" | "message") => UsageKind::Sms,
            _ => return Ok(None),
        };
        let q = characteristic(&self.usage_characteristic, CHAR_QUANTITY)
            .ok_or_else(|| bad("a usage record without its quantity"))?;
        let q = whole(q).ok_or_else(|| bad(format!("usage quantity {q} is not a whole number")))?;
        Ok(Some((kind, q)))
    }
}

/// The `productCharacteristic` with a product's allowance of `kind` (a number, or `unlimited`).
pub fn allowance_of(product: &WireProduct, kind: UsageKind) -> Result<Option<Option<u64>>> {
    let name = match kind {
        UsageKind::Data => "dataAllowanceMB",
        UsageKind::Voice => "voiceAllowanceMinutes",
        UsageKind::Sms => "smsAllowance",
    };
    match characteristic(&product.product_characteristic, name) {
        None => Ok(None),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("unlimited") => Ok(Some(None)),
        Some(v) => v.as_u64().map(|n| Some(Some(n))).ok_or_else(|| bad(format!("{name} {v} is not a number"))),
    }
}

// ---------------------------------------------------------------- TMF620 catalogue

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOffering {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub category: Vec<Ref>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_offering_price: Vec<Ref>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_offering_term: Vec<OfferingTerm>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_offering_relationship: Vec<OfferingRelationship>,
}

#[derive(Debug, Deserialize)]
pub struct OfferingTerm {
    #[serde(default)]
    pub duration: Option<Quantity>,
}

#[derive(Debug, Deserialize)]
pub struct Quantity {
    pub amount: Value,
    #[serde(default)]
    pub units: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferingRelationship {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub relationship_type: Option<String>,
}

pub const OFFERING_FIELDS: &str =
    "id,name,description,category,productOfferingPrice,productOfferingTerm,productOfferingRelationship";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOfferingPrice {
    pub id: String,
    #[serde(default)]
    pub price_type: Option<String>,
    pub price: WireMoney,
}

pub const PRICE_FIELDS: &str = "id,priceType,price";

/// `productOfferingRelationship.relationshipType` (TMF620 v4.1.0: "such as requires,
/// exchangableTo, optionalFor"): a plan the offering can be exchanged for, and, on an add-on,
/// the plan it is optional for.
pub const REL_EXCHANGEABLE_TO: &str = "exchangableTo";
pub const REL_OPTIONAL_FOR: &str = "optionalFor";

/// The category marking an add-on, one needing a technician, and a retention offer.
pub const CAT_ADD_ON: &str = "addOn";
pub const CAT_INSTALLATION: &str = "installation";
pub const CAT_RETENTION: &str = "retention";

impl ProductOffering {
    fn has_category(&self, name: &str) -> bool {
        self.category.iter().any(|c| c.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    pub fn is_retention(&self) -> bool {
        self.has_category(CAT_RETENTION)
    }

    pub fn family(&self) -> ProductFamily {
        self.category
            .iter()
            .map(|c| family_of(c.name.as_deref()))
            .find(|f| *f != ProductFamily::Other)
            .unwrap_or(ProductFamily::Other)
    }

    fn months(&self) -> Result<u32> {
        let Some(d) = self.product_offering_term.first().and_then(|t| t.duration.as_ref()) else { return Ok(0) };
        let n = whole(&d.amount)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad("a term that is not a whole number"))?;
        match d.units.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("month" | "months") | None => Ok(n),
            Some("year" | "years") => n.checked_mul(12).ok_or_else(|| bad("term out of range")),
            Some(other) => Err(bad(format!("term units {other:?}"))),
        }
    }

    /// The offering with its prices, looked up in `prices` (id → price) by the references it
    /// carries.
    pub fn to_record(&self, prices: &std::collections::HashMap<String, ProductOfferingPrice>) -> Result<Offering> {
        let id = reference(OfferingRef::parse, &self.id)?;
        let mut recurring = None;
        let mut one_time = None;
        for r in &self.product_offering_price {
            let p =
                prices.get(&r.id).ok_or_else(|| bad(format!("offering {id}: price {} not in the catalogue", r.id)))?;
            match p.price_type.as_deref() {
                Some("recurring") => recurring = Some(p.price.money()?),
                Some("oneTime" | "one time") => one_time = Some(p.price.money()?),
                _ => {}
            }
        }
        Ok(Offering {
            name: self.name.clone().unwrap_or_else(|| self.id.clone()),
            family: self.family(),
            kind: if self.has_category(CAT_ADD_ON) { OfferingKind::AddOn } else { OfferingKind::Plan },
            description: self.description.clone().unwrap_or_default(),
            recurring_price: recurring.ok_or_else(|| bad(format!("offering {id} has no recurring price")))?,
            one_time_price: one_time,
            requires_installation: self.has_category(CAT_INSTALLATION),
            commitment_months: self.months()?,
            id,
        })
    }

    /// As a retention offer: a `discount` price off the monthly fee for the term's months.
    pub fn to_retention(
        &self,
        prices: &std::collections::HashMap<String, ProductOfferingPrice>,
    ) -> Result<RetentionOffer> {
        let id = reference(OfferingRef::parse, &self.id)?;
        let discount = self
            .product_offering_price
            .iter()
            .filter_map(|r| prices.get(&r.id))
            .find(|p| p.price_type.as_deref() == Some("discount"))
            .ok_or_else(|| bad(format!("retention offer {id} has no discount price")))?
            .price
            .money()?;
        Ok(RetentionOffer {
            id,
            description: self.description.clone().or_else(|| self.name.clone()).unwrap_or_else(|| self.id.clone()),
            monthly_discount: Money::new(discount.minor.abs(), discount.currency),
            months: self.months()?,
        })
    }

    /// The ids of the offerings related to this one by `relationship_type`.
    pub fn related(&self, relationship_type: &str) -> impl Iterator<Item = &str> {
        self.product_offering_relationship.iter().filter_map(move |r| {
            (r.relationship_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(relationship_type)))
                .then_some(r.id.as_deref())
                .flatten()
        })
    }

    /// The plans it can be exchanged for (up or down by their price) and the add-ons
    /// (`addOn` offerings that are `optionalFor` it), in catalogue order.
    pub fn changes<'a>(&'a self, catalogue: &'a [ProductOffering]) -> Vec<(Option<ChangeKind>, &'a ProductOffering)> {
        let mut out: Vec<(Option<ChangeKind>, &ProductOffering)> = self
            .related(REL_EXCHANGEABLE_TO)
            .filter_map(|id| catalogue.iter().find(|o| o.id == id))
            .map(|o| (None, o))
            .collect();
        out.extend(
            catalogue
                .iter()
                .filter(|o| o.has_category(CAT_ADD_ON) && o.related(REL_OPTIONAL_FOR).any(|id| id == self.id))
                .map(|o| (Some(ChangeKind::AddOn), o)),
        );
        out
    }
}

// ---------------------------------------------------------------- TMF679 qualification

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOfferingQualification {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub qualification_result: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_offering_qualification_item: Vec<QualificationItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualificationItem {
    #[serde(default)]
    pub qualification_item_result: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub eligibility_unavailability_reason: Vec<UnavailabilityReason>,
    #[serde(default)]
    pub product: Option<QualifiedProduct>,
}

#[derive(Debug, Deserialize)]
pub struct UnavailabilityReason {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualifiedProduct {
    #[serde(default, deserialize_with = "null_vec")]
    pub product_characteristic: Vec<Characteristic>,
}

/// The `productCharacteristic` of a qualified item listing bookable installation dates.
pub const CHAR_INSTALLATION_DATE: &str = "installationDate";

/// TMF679 v4 `TaskStateType`: only `done` carries a result.
fn qualification_done(state: Option<&str>) -> Result<()> {
    match state {
        None | Some("done") => Ok(()),
        Some(s @ ("acknowledged" | "inProgress")) => {
            Err(BssError::Unavailable(format!("the qualification is {s}, not done")))
        }
        Some("terminatedWithError") => Err(BssError::Rejected {
            code: "terminatedWithError".into(),
            message: "the billing system could not qualify the offering".into(),
        }),
        Some(other) => Err(bad(format!("qualification state {other:?}"))),
    }
}

impl ProductOfferingQualification {
    pub fn into_record(self, offering: OfferingRef) -> Result<crate::Eligibility> {
        qualification_done(self.state.as_deref())?;
        let item = self
            .product_offering_qualification_item
            .into_iter()
            .next()
            .ok_or_else(|| bad("a qualification without its item"))?;
        qualification_done(item.state.as_deref())?;
        // The item's result (qualified, unqualified, alternate), else the whole answer's
        // (green, yellow, red).
        let eligible = match (item.qualification_item_result.as_deref(), self.qualification_result.as_deref()) {
            (Some("qualified"), _) | (None, Some("green")) => true,
            (Some("unqualified" | "alternate"), _) | (None, Some("red" | "yellow")) => false,
            (Some(other), _) => return Err(bad(format!("qualificationItemResult {other:?}"))),
            (None, other) => return Err(bad(format!("qualificationResult {other:?}"))),
        };
        let reason = (!eligible).then(|| {
            item.eligibility_unavailability_reason
                .iter()
                .filter_map(|r| r.label.clone().or_else(|| r.code.clone()))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let mut dates = Vec::new();
        if eligible && let Some(p) = &item.product {
            for c in p.product_characteristic.iter().filter(|c| c.name == CHAR_INSTALLATION_DATE) {
                match &c.value {
                    Value::String(s) => dates.push(date_of(s)?),
                    Value::Array(list) => {
                        for v in list {
                            dates.push(date_of(
                                v.as_str().ok_or_else(|| bad("an installation date that is not text"))?,
                            )?);
                        }
                    }
                    other => return Err(bad(format!("installation date {other}"))),
                }
            }
        }
        dates.sort_unstable();
        dates.dedup();
        Ok(crate::Eligibility {
            offering,
            eligible,
            reason: reason.filter(|r| !r.is_empty()),
            installation_dates: dates,
        })
    }
}

// ---------------------------------------------------------------- TMF622 ProductOrder

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOrder {
    pub id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub order_date: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_order_item: Vec<ProductOrderItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOrderItem {
    pub action: String,
    #[serde(default)]
    pub product_offering: Option<Ref>,
    #[serde(default)]
    pub product: Option<OrderProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderProduct {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub termination_date: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_characteristic: Vec<Characteristic>,
    #[serde(default, deserialize_with = "null_vec")]
    pub product_relationship: Vec<ProductRelationship>,
}

pub const ORDER_FIELDS: &str = "id,state,externalId,orderDate,productOrderItem";
/// The `productCharacteristic` of an ordered product carrying why it is discontinued.
pub const CHAR_TERMINATION_REASON: &str = "terminationReason";

impl ProductOrder {
    pub fn into_record(self) -> Result<Order> {
        let id = reference(OrderRef::parse, &self.id)?;
        let state = match self.state.as_deref().unwrap_or("acknowledged") {
            "acknowledged" => OrderState::Acknowledged,
            "inProgress" | "pending" | "held" | "assessingCancellation" | "pendingCancellation" => {
                OrderState::InProgress
            }
            "completed" => OrderState::Completed,
            "rejected" => OrderState::Rejected,
            "failed" | "partial" => OrderState::Failed,
            "cancelled" => OrderState::Cancelled,
            other => return Err(bad(format!("order {id}: state {other:?}"))),
        };
        // A `noChange` item (a part of a bundle the order leaves as it is) is not a change.
        let items = self
            .product_order_item
            .into_iter()
            .filter(|i| i.action != "noChange")
            .map(OrderItemWire::into_item)
            .collect::<Result<Vec<_>>>()?;
        let created_at = match &self.order_date {
            Some(d) => instant_of(d)?,
            None => return Err(bad(format!("order {id} has no orderDate"))),
        };
        Ok(Order { id, state, items, external_id: self.external_id, created_at })
    }
}

struct OrderItemWire;

impl OrderItemWire {
    fn into_item(item: ProductOrderItem) -> Result<OrderItem> {
        let action = match item.action.as_str() {
            "add" => OrderAction::Add,
            "modify" => OrderAction::Modify,
            "delete" => OrderAction::Delete,
            other => return Err(bad(format!("order item action {other:?}"))),
        };
        let offering = item.product_offering.map(|o| reference(OfferingRef::parse, &o.id)).transpose()?;
        let p = item.product;
        let product = match (&action, &p) {
            (OrderAction::Add, Some(p)) => add_on_parent(&p.product_relationship)?,
            (_, Some(p)) => p.id.as_deref().map(|i| reference(ProductRef::parse, i)).transpose()?,
            (_, None) => None,
        };
        let requested_date = match (&action, &p) {
            (OrderAction::Delete, Some(p)) => opt_date(p.termination_date.as_ref())?,
            (_, Some(p)) => opt_date(p.start_date.as_ref())?,
            _ => None,
        };
        let reason = p
            .as_ref()
            .and_then(|p| characteristic(&p.product_characteristic, CHAR_TERMINATION_REASON))
            .and_then(text_of);
        Ok(OrderItem { action, product, offering, requested_date, reason })
    }
}

// ---------------------------------------------------------------- TMF653 ServiceTest

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireServiceTest {
    pub id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub test_measure: Vec<WireTestMeasure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTestMeasure {
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub metric_description: Option<String>,
    #[serde(default)]
    pub value: Option<Characteristic>,
    #[serde(default, deserialize_with = "null_vec")]
    pub rule_violation: Vec<Value>,
}

impl WireServiceTest {
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_deref(), Some("completed" | "cancelled" | "failed"))
    }

    pub fn into_record(self, product: ProductRef) -> Result<ServiceTest> {
        let id = reference(ServiceTestRef::parse, &self.id)?;
        let measures: Vec<TestMeasure> = self
            .test_measure
            .into_iter()
            .map(|m| TestMeasure {
                value: m.value.as_ref().and_then(|c| text_of(&c.value)).unwrap_or_default(),
                ok: m.rule_violation.is_empty(),
                name: m.metric_name.or(m.metric_description).unwrap_or_else(|| "measure".to_owned()),
            })
            .collect();
        let verdict = match self.state.as_deref() {
            Some("completed") if measures.iter().all(|m| m.ok) => TestVerdict::Pass,
            Some("completed") => TestVerdict::Fail,
            _ => TestVerdict::Inconclusive,
        };
        let summary = self.description.unwrap_or_else(|| match verdict {
            TestVerdict::Pass => "The line test passed.".to_owned(),
            TestVerdict::Fail => "The line test found a fault.".to_owned(),
            TestVerdict::Inconclusive => "The line test did not finish.".to_owned(),
        });
        let finished_at = match &self.end_date_time {
            Some(t) => instant_of(t)?,
            None => OffsetDateTime::now_utc(),
        };
        Ok(ServiceTest { id, product, verdict, summary, measures, finished_at })
    }
}

// ---------------------------------------------------------------- TMF error

/// The TMF `Error` body (`code`, `reason`, `message`, `status`).
#[derive(Debug, Default, Deserialize)]
pub struct TmfError {
    #[serde(default)]
    pub code: Value,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl TmfError {
    pub fn code(&self) -> String {
        text_of(&self.code).unwrap_or_default()
    }

    /// `reason: message`, bounded to 300 characters.
    pub fn text(&self) -> String {
        let t = match (&self.reason, &self.message) {
            (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {m}"),
            (Some(r), _) => r.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        t.chars().take(300).collect()
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
