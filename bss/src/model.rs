//! The BSS's records as the hub sees them, whichever system they come from: references
//! (validated ids), customers, accounts, products, bills, usage, the catalogue, orders,
//! adjustments, payment arrangements and line tests. Field names follow the TM Forum's where one
//! exists; amounts are [`Money`], dates ISO 8601.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::{BssError, Money};

/// The longest reference accepted, in bytes.
pub const MAX_REF_LEN: usize = 64;

macro_rules! reference {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// 1 to 64 characters of ASCII letters, digits and `-_.:`: safe in a URL path and a log.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What this reference names, for errors (`"customer"`, `"bill"`).
            pub const KIND: &'static str = $kind;

            /// Checks `text`.
            ///
            /// # Errors
            /// [`BssError::Invalid`] for an empty, too long or unsafe text.
            pub fn parse(text: &str) -> Result<Self, BssError> {
                let ok = !text.is_empty()
                    && text.len() <= MAX_REF_LEN
                    && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
                if ok {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(BssError::Invalid(format!(
                        concat!("a ", $kind, " reference is 1 to {} letters, digits or -_.:"),
                        MAX_REF_LEN
                    )))
                }
            }

            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

reference!(
    /// A customer's id in the BSS (TMF629 `Customer.id`), not the hub's customer id.
    CustomerRef, "customer"
);
reference!(
    /// A billing account's id (TMF666 `BillingAccount.id`); staff and customers know it as the
    /// account number.
    AccountRef, "account"
);
reference!(
    /// A product instance's id (TMF637 `Product.id`).
    ProductRef, "product"
);
reference!(
    /// A bill's id (TMF678 `CustomerBill.id`).
    BillRef, "bill"
);
reference!(
    /// A bill item's id (TMF678 `AppliedCustomerBillingRate.id`).
    BillItemRef, "bill item"
);
reference!(
    /// A product offering's id (TMF620 `ProductOffering.id`).
    OfferingRef, "offering"
);
reference!(
    /// An order's id (TMF622 `ProductOrder.id`).
    OrderRef, "order"
);
reference!(
    /// An adjustment's id.
    AdjustmentRef, "adjustment"
);
reference!(
    /// A line test's id (TMF653 `ServiceTest.id`).
    ServiceTestRef, "service test"
);

/// How to look a customer up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum Lookup {
    /// A phone number in E.164 (`+34911234567`).
    Phone(String),
    /// An e-mail address (compared without case).
    Email(String),
    /// A billing account's number.
    Account(AccountRef),
    /// Part of the name (at least 2 characters).
    Name(String),
}

/// A way to reach the customer that the BSS knows (TMF629 `contactMedium`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactPoint {
    pub kind: ContactKind,
    /// An e-mail address, or a phone number in E.164.
    pub value: String,
    /// The customer's preferred contact.
    pub preferred: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    Phone,
}

/// A postal address; `postcode` is what outages are matched on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postcode: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// A customer as the BSS knows them (TMF629 `Customer` with its party).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BssCustomer {
    pub id: CustomerRef,
    pub name: String,
    /// `active`, `suspended`, `closed` (TMF629 `status`).
    pub status: String,
    /// The customer's segment in the BSS (`standard`, `gold`, `platinum`, `business`): the
    /// hub's customer tier, which routing rules weigh.
    pub segment: String,
    pub contacts: Vec<ContactPoint>,
    /// Where the customer's fixed services are (outages are matched on its postcode).
    pub address: Option<Address>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    Prepaid,
    Postpaid,
}

/// A billing account (TMF666 `BillingAccount`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingAccount {
    pub id: AccountRef,
    pub name: String,
    pub kind: PaymentKind,
    /// `active`, `suspended`, `closed`.
    pub status: String,
    /// What the customer owes now (postpaid), or their credit (prepaid, negative: credit left).
    pub balance: Money,
    /// Of the balance, what is past its due date: more than zero means in arrears.
    pub overdue: Money,
    /// When the current balance is due (postpaid).
    #[serde(with = "crate::model::iso_date_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub due_date: Option<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProductFamily {
    Mobile,
    Fibre,
    Tv,
    Landline,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// Ordered, not yet working.
    Pending,
    Active,
    Suspended,
    Terminated,
}

/// A product the customer has (TMF637 `Product`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: ProductRef,
    pub account: AccountRef,
    pub offering: OfferingRef,
    pub name: String,
    pub family: ProductFamily,
    pub status: ProductStatus,
    /// The line's public identifier: a phone number (mobile, landline) or a line id (fibre, TV).
    pub identifier: Option<String>,
    #[serde(with = "crate::model::iso_date_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub start_date: Option<Date>,
    /// The monthly price.
    pub recurring_price: Option<Money>,
    /// The end of the minimum term, if any.
    #[serde(with = "crate::model::iso_date_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub commitment_end: Option<Date>,
    /// What cancelling today costs (zero or absent when out of contract).
    pub early_termination_fee: Option<Money>,
    /// Add-ons are products too, attached to their base product.
    pub parent: Option<ProductRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillState {
    /// Issued, not yet due.
    New,
    /// Paid in full.
    Settled,
    PartiallyPaid,
    /// Past its due date and not paid.
    Overdue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillItemKind {
    /// The monthly fee of a product.
    Recurring,
    /// Calls, data, messages beyond the allowance, roaming.
    Usage,
    /// A one-time charge (installation, a device instalment, a late fee).
    OneTime,
    Discount,
    /// A credit or debit applied by an adjustment.
    Adjustment,
    Tax,
}

/// A line of a bill (TMF678 `AppliedCustomerBillingRate`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillItem {
    pub id: BillItemRef,
    pub kind: BillItemKind,
    pub description: String,
    /// Negative for credits and discounts.
    pub amount: Money,
    pub product: Option<ProductRef>,
    /// Whether an agent may adjust it (recurring, usage and one-time charges of an open bill).
    pub adjustable: bool,
}

/// A bill (TMF678 `CustomerBill`). `items` is empty in lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bill {
    pub id: BillRef,
    pub account: AccountRef,
    /// The number printed on the bill.
    pub number: String,
    pub state: BillState,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub period_start: Date,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub period_end: Date,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub issued: Date,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub due: Date,
    /// Taxes included.
    pub total: Money,
    /// What is left to pay.
    pub unpaid: Money,
    pub items: Vec<BillItem>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// In megabytes.
    Data,
    /// In minutes.
    Voice,
    /// In messages.
    Sms,
}

/// One allowance and what was used of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageMeter {
    pub kind: UsageKind,
    pub used: u64,
    /// `None`: unlimited.
    pub allowance: Option<u64>,
}

/// A product's usage this billing period (TMF635).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub product: ProductRef,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub period_start: Date,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub period_end: Date,
    pub meters: Vec<UsageMeter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OfferingKind {
    /// A plan: a product of its own.
    Plan,
    /// An add-on to a plan of the same family.
    AddOn,
}

/// Something that can be ordered (TMF620 `ProductOffering` with its price).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Offering {
    pub id: OfferingRef,
    pub name: String,
    pub family: ProductFamily,
    pub kind: OfferingKind,
    pub description: String,
    pub recurring_price: Money,
    /// Installation or activation fee.
    pub one_time_price: Option<Money>,
    /// Whether a technician must install it (fibre, TV): the order needs an installation date.
    pub requires_installation: bool,
    /// Months of minimum term.
    pub commitment_months: u32,
}

/// Whether an offering can be provided to a customer (TMF679 qualification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Eligibility {
    pub offering: OfferingRef,
    pub eligible: bool,
    /// Why not, when not eligible (in English; staff-facing).
    pub reason: Option<String>,
    /// The installation dates that can be booked, earliest first (empty when no installation).
    #[serde(with = "crate::model::iso_dates")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub installation_dates: Vec<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Upgrade,
    Downgrade,
    AddOn,
    RemoveAddOn,
}

/// A change allowed to an active product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductChange {
    pub kind: ChangeKind,
    pub product: ProductRef,
    /// The plan moved to, or the add-on added or removed.
    pub offering: Offering,
    /// New monthly price minus the current one (negative: cheaper).
    pub price_difference: Money,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub effective_date: Date,
}

/// An offer an agent may make to keep a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionOffer {
    pub id: OfferingRef,
    pub description: String,
    /// Off the monthly price.
    pub monthly_discount: Money,
    pub months: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    /// A new product (new service, or an add-on).
    Add,
    /// A plan change of an existing product.
    Modify,
    /// Discontinue a product.
    Delete,
}

/// One line of an order (TMF622 `ProductOrderItem`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderItem {
    pub action: OrderAction,
    /// The product changed or discontinued (`modify`, `delete`); the base product an add-on
    /// attaches to (`add` of an add-on).
    pub product: Option<ProductRef>,
    /// What is added, or what a `modify` moves to.
    pub offering: Option<OfferingRef>,
    /// The installation date (`add` of an offering that requires one) or the date the change
    /// takes effect.
    #[serde(with = "crate::model::iso_date_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub requested_date: Option<Date>,
    /// Why (`delete`): a reason code of the configured list.
    pub reason: Option<String>,
}

/// An order to place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub customer: CustomerRef,
    pub account: AccountRef,
    pub items: Vec<OrderItem>,
    /// The hub's id for this order: placing it again returns the first.
    pub external_id: String,
    /// A note for the BSS (who ordered it, from which conversation).
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Acknowledged,
    InProgress,
    Completed,
    Rejected,
    Failed,
    Cancelled,
}

/// An order (TMF622 `ProductOrder`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: OrderRef,
    pub state: OrderState,
    pub items: Vec<OrderItem>,
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// A bill adjustment to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAdjustment {
    pub account: AccountRef,
    pub bill: BillRef,
    /// The item adjusted; `None` for the bill as a whole.
    pub item: Option<BillItemRef>,
    /// A credit to the customer is positive.
    pub amount: Money,
    /// A reason code of the configured list.
    pub reason: String,
    /// The hub's id for this adjustment: applying it again returns the first.
    pub external_id: String,
    pub note: String,
}

/// An applied adjustment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Adjustment {
    pub id: AdjustmentRef,
    pub bill: BillRef,
    pub item: Option<BillItemRef>,
    pub amount: Money,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// A promise to pay an account's balance by a date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPaymentArrangement {
    pub account: AccountRef,
    pub amount: Money,
    #[serde(with = "crate::model::iso_date")]
    pub pay_by: Date,
    pub external_id: String,
}

/// An agreed payment arrangement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentArrangement {
    pub id: String,
    pub account: AccountRef,
    pub amount: Money,
    #[serde(with = "crate::model::iso_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub pay_by: Date,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TestVerdict {
    /// The line works.
    Pass,
    /// A fault was found (see the results).
    Fail,
    /// The test could not finish (equipment unreachable).
    Inconclusive,
}

/// One measurement of a line test (TMF653 `TestMeasure`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestMeasure {
    /// `sync_rate_down_mbps`, `signal_dbm`, `registered`, …
    pub name: String,
    pub value: String,
    pub ok: bool,
}

/// A finished line test (TMF653 `ServiceTest`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceTest {
    pub id: ServiceTestRef,
    pub product: ProductRef,
    pub verdict: TestVerdict,
    /// One sentence for the agent (in English; staff-facing).
    pub summary: String,
    pub measures: Vec<TestMeasure>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub finished_at: OffsetDateTime,
}

/// Dates as ISO 8601 calendar dates (`2026-11-29`), as TMF documents write them.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::format_description::well_known::Iso8601;

    /// # Errors
    /// Never in practice (a date always formats).
    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&date.format(&Iso8601::DATE).map_err(serde::ser::Error::custom)?)
    }

    /// # Errors
    /// Not a `YYYY-MM-DD` date.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// Parses `YYYY-MM-DD`.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(text: &str) -> Result<Date, String> {
        if text.len() != 10 {
            return Err("a date is written YYYY-MM-DD".to_owned());
        }
        Date::parse(text, &Iso8601::DATE).map_err(|_| "a date is written YYYY-MM-DD".to_owned())
    }
}

/// Optional ISO 8601 dates (`null` when absent).
pub mod iso_date_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    /// # Errors
    /// Never in practice.
    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => super::iso_date::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// # Errors
    /// Not a `YYYY-MM-DD` date or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| super::iso_date::parse(&t))
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

/// Lists of ISO 8601 dates.
pub mod iso_dates {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::format_description::well_known::Iso8601;

    /// # Errors
    /// Never in practice.
    pub fn serialize<S: Serializer>(dates: &[Date], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(dates.len()))?;
        for d in dates {
            seq.serialize_element(&d.format(&Iso8601::DATE).map_err(serde::ser::Error::custom)?)?;
        }
        seq.end()
    }

    /// # Errors
    /// An element that is not a `YYYY-MM-DD` date.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| super::iso_date::parse(t))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked() {
        assert!(CustomerRef::parse("CUST-0001").is_ok());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65), "../x?"] {
            assert!(CustomerRef::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<BillRef>("\"B 1\"").is_err());
    }

    #[test]
    fn dates_round_trip() {
        let d = iso_date::parse("2026-11-29").unwrap_or_else(|e| unreachable!("{e}"));
        let meter = Eligibility {
            offering: OfferingRef::parse("fibre-1g").unwrap_or_else(|e| unreachable!("{e}")),
            eligible: true,
            reason: None,
            installation_dates: vec![d],
        };
        let json = serde_json::to_string(&meter).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(json.contains("\"2026-11-29\""), "{json}");
        assert_eq!(serde_json::from_str::<Eligibility>(&json).ok(), Some(meter));
        for bad in ["2026-13-01", "2026-1-1", "29/11/2026", "+2026-11-29"] {
            assert!(iso_date::parse(bad).is_err(), "{bad}");
        }
    }
}
