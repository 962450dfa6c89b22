//! Demo data for the embedded BSS: a telecom catalogue (mobile plans and add-ons, fibre 300 Mb to
//! 1 Gb, TV packs, a landline), and customers with accounts, products, several months of
//! itemised bills and this month's usage, built from a [`Profile`].
//!
//! Seeding is idempotent: records that exist are left alone (a restart duplicates nothing, and
//! changes made in the demo, such as an adjustment, survive it). Every id of a seeded customer is
//! derived from its customer reference: account `{ref}-A1`, products `{ref}-P1`, `{ref}-P2`, …,
//! bills `{ref}-B{yyyymm}`, bill items `{bill}-{n}`.

use time::{Date, Duration, Month, OffsetDateTime};

use super::{
    Embedded, OfferingDoc, ProductDoc, account_record, bill_record, customer_record, offering_record, product_record,
    store_err, usage_record,
};
use crate::{
    AccountRef, Address, Bill, BillItem, BillItemKind, BillItemRef, BillRef, BillState, BillingAccount, BssCustomer,
    BssError, ContactKind, ContactPoint, Currency, CustomerRef, Money, Offering, OfferingKind, OfferingRef, Product,
    ProductFamily, ProductRef, ProductStatus, Result, Usage, UsageKind, UsageMeter,
};

/// The postcodes (Madrid) where fibre and TV can be provided in the demo catalogue; mobile and
/// the landline are sold everywhere.
pub const DEMO_COVERAGE: &[&str] = &["28001", "28004", "28005", "28012", "28013", "28014", "28015", "28020"];

/// The tax on every bill (Spain's VAT, 21 %).
const TAX_PERCENT: i64 = 21;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap_or_else(|_| unreachable!("EUR is a currency code")))
}

/// (id, name, family, kind, description, monthly price in cents, one-time price in cents,
/// installation, commitment months, covered only in [`DEMO_COVERAGE`]).
type OfferingRow = (&'static str, &'static str, ProductFamily, OfferingKind, &'static str, i64, i64, bool, u32, bool);

const CATALOGUE: &[OfferingRow] = &[
    (
        "mobile-10",
        "Mobile 10 GB",
        ProductFamily::Mobile,
        OfferingKind::Plan,
        "10 GB of data, unlimited calls",
        1500,
        0,
        false,
        0,
        false,
    ),
    (
        "mobile-50",
        "Mobile 50 GB",
        ProductFamily::Mobile,
        OfferingKind::Plan,
        "50 GB of data, unlimited calls, 5 GB roaming in the EU",
        2500,
        0,
        false,
        0,
        false,
    ),
    (
        "mobile-unlimited",
        "Mobile Unlimited",
        ProductFamily::Mobile,
        OfferingKind::Plan,
        "Unlimited data and calls, 20 GB roaming in the EU",
        3500,
        0,
        false,
        0,
        false,
    ),
    (
        "mobile-prepaid",
        "Prepaid 10 GB",
        ProductFamily::Mobile,
        OfferingKind::Plan,
        "Prepaid: 10 GB and 200 minutes a month, top up any time",
        1000,
        0,
        false,
        0,
        false,
    ),
    (
        "addon-roaming-world",
        "Roaming World 5 GB",
        ProductFamily::Mobile,
        OfferingKind::AddOn,
        "5 GB and 100 minutes outside the EU",
        1000,
        0,
        false,
        0,
        false,
    ),
    (
        "addon-data-10",
        "Extra 10 GB",
        ProductFamily::Mobile,
        OfferingKind::AddOn,
        "10 GB more data every month",
        500,
        0,
        false,
        0,
        false,
    ),
    (
        "fibre-300",
        "Fibre 300 Mb",
        ProductFamily::Fibre,
        OfferingKind::Plan,
        "300 Mb symmetric fibre with Wi-Fi 6 router",
        3000,
        5000,
        true,
        12,
        true,
    ),
    (
        "fibre-600",
        "Fibre 600 Mb",
        ProductFamily::Fibre,
        OfferingKind::Plan,
        "600 Mb symmetric fibre with Wi-Fi 6 router",
        3800,
        5000,
        true,
        12,
        true,
    ),
    (
        "fibre-1g",
        "Fibre 1 Gb",
        ProductFamily::Fibre,
        OfferingKind::Plan,
        "1 Gb symmetric fibre with Wi-Fi 6 mesh",
        4800,
        0,
        true,
        12,
        true,
    ),
    (
        "addon-static-ip",
        "Static IP",
        ProductFamily::Fibre,
        OfferingKind::AddOn,
        "A fixed public IPv4 address",
        500,
        0,
        false,
        0,
        false,
    ),
    (
        "tv-essentials",
        "TV Essentials",
        ProductFamily::Tv,
        OfferingKind::Plan,
        "70 channels, 7-day replay, set-top box",
        1000,
        3000,
        true,
        0,
        true,
    ),
    (
        "tv-football",
        "Football pack",
        ProductFamily::Tv,
        OfferingKind::AddOn,
        "Every league and cup match",
        2500,
        0,
        false,
        0,
        false,
    ),
    (
        "tv-cinema",
        "Cinema pack",
        ProductFamily::Tv,
        OfferingKind::AddOn,
        "Premiere films and series",
        900,
        0,
        false,
        0,
        false,
    ),
    (
        "landline",
        "Landline",
        ProductFamily::Landline,
        OfferingKind::Plan,
        "A fixed line with unlimited national calls",
        1200,
        0,
        false,
        0,
        false,
    ),
];

fn offering_docs() -> Result<Vec<OfferingDoc>> {
    CATALOGUE
        .iter()
        .map(|&(id, name, family, kind, description, monthly, once, installation, months, covered)| {
            Ok(OfferingDoc {
                offering: Offering {
                    id: OfferingRef::parse(id)?,
                    name: name.to_owned(),
                    family,
                    kind,
                    description: description.to_owned(),
                    recurring_price: eur(monthly),
                    one_time_price: (once > 0).then(|| eur(once)),
                    requires_installation: installation,
                    commitment_months: months,
                },
                coverage: covered.then(|| DEMO_COVERAGE.iter().map(|p| (*p).to_owned()).collect()),
            })
        })
        .collect()
}

/// Seeds the demo catalogue (leaving existing offerings alone).
///
/// # Errors
/// The store fails.
pub async fn seed_catalogue(bss: &Embedded) -> Result<()> {
    let records = offering_docs()?.iter().map(offering_record).collect::<Result<Vec<_>>>()?;
    bss.store.bss_insert_missing(&records).await.map_err(store_err)?;
    Ok(())
}

/// What a seeded customer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Postpaid: Mobile 50 GB with Roaming World, Fibre 600 Mb (in its 12-month commitment, with
    /// an early-termination fee) and TV Essentials with the Football pack; paid up (the latest
    /// bill is open, not yet due). Segment `gold`.
    Family,
    /// Postpaid: Mobile 10 GB and a landline; the two bills before the latest are overdue (in
    /// arrears), with a late fee. Segment `standard`.
    Arrears,
    /// Prepaid: Prepaid 10 GB with credit left; no bills. Segment `standard`.
    Prepaid,
    /// Postpaid business: Fibre 1 Gb with a static IP, whose line test fails (a fault), and
    /// Mobile Unlimited; paid up. Segment `business`.
    FaultyFibre,
    /// Postpaid: Mobile Unlimited alone, paid up. Segment `platinum`.
    Mobile,
}

impl Profile {
    /// The BSS segment a customer of this profile gets (unless the seed overrides it).
    #[must_use]
    pub const fn segment(self) -> &'static str {
        match self {
            Self::Family => "gold",
            Self::Arrears | Self::Prepaid => "standard",
            Self::FaultyFibre => "business",
            Self::Mobile => "platinum",
        }
    }
}

/// A customer to seed. [`CustomerSeed::new`] fills a plausible Madrid address.
#[derive(Clone, Debug)]
pub struct CustomerSeed {
    pub id: CustomerRef,
    pub name: String,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub street: String,
    pub postcode: String,
    pub profile: Profile,
    /// Overrides the profile's segment.
    pub segment: Option<String>,
}

impl CustomerSeed {
    /// A customer `id` named `name` with `profile`, at Calle Mayor 10, 28013 Madrid (in the fibre
    /// coverage), without e-mail or phone.
    #[must_use]
    pub fn new(id: CustomerRef, name: &str, profile: Profile) -> Self {
        Self {
            id,
            name: name.to_owned(),
            email: None,
            phone: None,
            street: "Calle Mayor 10".to_owned(),
            postcode: "28013".to_owned(),
            profile,
            segment: None,
        }
    }
}

/// The references of what [`Embedded::seed_customer`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededCustomer {
    pub customer: CustomerRef,
    pub account: AccountRef,
    /// Base products first, in the order the profile lists them; add-ons after their base.
    pub products: Vec<ProductRef>,
    /// Newest first (empty for prepaid).
    pub bills: Vec<BillRef>,
}

/// A demo customer of `serve --demo`: the BSS side, and who they are in the hub.
#[derive(Clone, Debug)]
pub struct DemoCustomer {
    pub seed: CustomerSeed,
    /// The hub customer's language (`en`, `es`, `pt`).
    pub language: &'static str,
}

/// (id, name, e-mail, phone, street, postcode, profile, language).
type DemoRow =
    (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, Profile, &'static str);

/// The demo customers `serve --demo` seeds and links to hub customers of the same name and
/// e-mail address.
///
/// | BSS id | name | profile | postcode |
/// |---|---|---|---|
/// | `CUST-1001` | Lucía Fernández | Family (commitment, ETF) | 28013 |
/// | `CUST-1002` | Javier Moreno | Arrears | 28004 |
/// | `CUST-1003` | Carmen Ruiz | Prepaid | 28050 (no fibre) |
/// | `CUST-1004` | Diego Navarro | FaultyFibre (business) | 28014 |
/// | `CUST-1005` | Ana Costa | Mobile (platinum) | 28005 |
///
/// # Errors
/// Never in practice (the references are valid).
pub fn demo_customers() -> Result<Vec<DemoCustomer>> {
    let rows: [DemoRow; 5] = [
        (
            "CUST-1001",
            "Lucía Fernández",
            "lucia.fernandez@example.com",
            "+34600111001",
            "Calle de Postas 12, 3º B",
            "28013",
            Profile::Family,
            "es",
        ),
        (
            "CUST-1002",
            "Javier Moreno",
            "javier.moreno@example.com",
            "+34600111002",
            "Calle de Atocha 88, 1º A",
            "28004",
            Profile::Arrears,
            "es",
        ),
        (
            "CUST-1003",
            "Carmen Ruiz",
            "carmen.ruiz@example.com",
            "+34600111003",
            "Avenida de Burgos 41",
            "28050",
            Profile::Prepaid,
            "es",
        ),
        (
            "CUST-1004",
            "Diego Navarro",
            "diego@navarro-asesores.example.com",
            "+34600111004",
            "Calle de Alcalá 120, local 2",
            "28014",
            Profile::FaultyFibre,
            "en",
        ),
        (
            "CUST-1005",
            "Ana Costa",
            "ana.costa@example.com",
            "+34600111005",
            "Calle de Embajadores 5",
            "28005",
            Profile::Mobile,
            "pt",
        ),
    ];
    rows.into_iter()
        .map(|(id, name, email, phone, street, postcode, profile, language)| {
            Ok(DemoCustomer {
                seed: CustomerSeed {
                    id: CustomerRef::parse(id)?,
                    name: name.to_owned(),
                    email: Some(email.to_owned()),
                    phone: Some(phone.to_owned()),
                    street: street.to_owned(),
                    postcode: postcode.to_owned(),
                    profile,
                    segment: None,
                },
                language,
            })
        })
        .collect()
}

/// Seeds the demo catalogue and [`demo_customers`] (leaving what exists alone).
///
/// # Errors
/// The store fails.
pub async fn seed_demo(bss: &Embedded) -> Result<Vec<SeededCustomer>> {
    seed_catalogue(bss).await?;
    let mut out = Vec::new();
    for demo in demo_customers()? {
        out.push(bss.seed_customer(&demo.seed, OffsetDateTime::now_utc().date()).await?);
    }
    Ok(out)
}

fn add_months(d: Date, months: i32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let month = Month::try_from(u8::try_from(m).unwrap_or(1)).unwrap_or(Month::January);
    let day = d.day().min(month.length(y));
    Date::from_calendar_date(y, month, day).unwrap_or(d)
}

fn month_start(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

/// (offering, parent index among the profile's products, months since it started, faulty,
/// line identifier).
type ProductRow = (&'static str, Option<usize>, i32, bool, &'static str);

fn products_of(profile: Profile) -> &'static [ProductRow] {
    match profile {
        Profile::Family => &[
            ("mobile-50", None, 26, false, "+34600111001"),
            ("addon-roaming-world", Some(0), 8, false, ""),
            ("fibre-600", None, 5, false, "FTTH-0013-7741"),
            ("tv-essentials", None, 5, false, "STB-88213"),
            ("tv-football", Some(3), 5, false, ""),
        ],
        Profile::Arrears => {
            &[("mobile-10", None, 40, false, "+34600111002"), ("landline", None, 40, false, "+34911002002")]
        }
        Profile::Prepaid => &[("mobile-prepaid", None, 14, false, "+34600111003")],
        Profile::FaultyFibre => &[
            ("fibre-1g", None, 20, true, "FTTH-0014-2290"),
            ("addon-static-ip", Some(0), 20, false, ""),
            ("mobile-unlimited", None, 20, false, "+34600111004"),
        ],
        Profile::Mobile => &[("mobile-unlimited", None, 30, false, "+34600111005")],
    }
}

/// How many monthly bills a postpaid customer gets (the latest first).
const BILL_MONTHS: i32 = 4;

impl Embedded {
    /// Seeds one customer of `profile` as of `today`: the customer, one billing account in EUR,
    /// the profile's products, [`BILL_MONTHS`] monthly bills (postpaid) itemised as recurring
    /// fees, usage, one-time charges, discounts and tax, and this month's usage. Records that
    /// exist are left alone, so seeding again is harmless. For tests: link the result to a hub
    /// customer with `Store::set_customer_bss_id(customer_id, Some(seeded.customer.as_str()))`.
    ///
    /// # Errors
    /// The store fails, or the seed's reference is too long to derive ids from (over 50
    /// characters).
    pub async fn seed_customer(&self, seed: &CustomerSeed, today: Date) -> Result<SeededCustomer> {
        if seed.id.as_str().len() > 50 {
            return Err(BssError::Invalid("a seeded customer's reference is at most 50 characters".into()));
        }
        seed_catalogue(self).await?;
        let catalogue = offering_docs()?;
        let cref = seed.id.as_str();
        let account_id = AccountRef::parse(&format!("{cref}-A1"))?;
        let mut contacts = Vec::new();
        if let Some(email) = &seed.email {
            contacts.push(ContactPoint { kind: ContactKind::Email, value: email.clone(), preferred: true });
        }
        if let Some(phone) = &seed.phone {
            contacts.push(ContactPoint {
                kind: ContactKind::Phone,
                value: phone.clone(),
                preferred: seed.email.is_none(),
            });
        }
        let customer = BssCustomer {
            id: seed.id.clone(),
            name: seed.name.clone(),
            status: "active".to_owned(),
            segment: seed.segment.clone().unwrap_or_else(|| seed.profile.segment().to_owned()),
            contacts,
            address: Some(Address {
                street: seed.street.clone(),
                city: "Madrid".to_owned(),
                postcode: seed.postcode.clone(),
                country: "ES".to_owned(),
            }),
        };
        let mut records = vec![customer_record(&customer)?];

        // Products.
        let rows = products_of(seed.profile);
        let mut products = Vec::new();
        for (i, &(offering_id, parent, months_ago, faulty, identifier)) in rows.iter().enumerate() {
            let o = &catalogue
                .iter()
                .find(|d| d.offering.id.as_str() == offering_id)
                .ok_or_else(|| BssError::Invalid(format!("no offering {offering_id}")))?
                .offering;
            let start = add_months(today, -months_ago);
            let commitment_end = (o.commitment_months > 0)
                .then(|| add_months(start, i32::try_from(o.commitment_months).unwrap_or(0)))
                .filter(|end| *end > today);
            // 10 EUR for every month of commitment left.
            let etf = commitment_end.map(|end| {
                let months = (end.year() - today.year()) * 12 + i32::from(u8::from(end.month()))
                    - i32::from(u8::from(today.month()));
                eur(i64::from(months.max(1)) * 1000)
            });
            let id = ProductRef::parse(&format!("{cref}-P{}", i + 1))?;
            let product = Product {
                id,
                account: account_id.clone(),
                offering: o.id.clone(),
                name: o.name.clone(),
                family: o.family,
                status: ProductStatus::Active,
                identifier: (!identifier.is_empty()).then(|| identifier.to_owned()),
                start_date: Some(start),
                recurring_price: Some(o.recurring_price),
                commitment_end,
                early_termination_fee: etf,
                parent: parent.map(|p| ProductRef::parse(&format!("{cref}-P{}", p + 1))).transpose()?,
            };
            products.push((product, faulty, o.one_time_price));
        }
        for (product, faulty, _) in &products {
            records.push(product_record(cref, &ProductDoc { product: product.clone(), faulty: *faulty })?);
        }

        // This month's usage.
        let period_start = month_start(today);
        let period_end = add_months(period_start, 1).previous_day().unwrap_or(period_start);
        let day = i64::from(today.day());
        for (product, _, _) in &products {
            let meters = match (product.offering.as_str(), seed.profile) {
                ("mobile-10", _) => vec![
                    meter(UsageKind::Data, 9_400, Some(10_240)),
                    meter(UsageKind::Voice, u64::try_from(day * 11).unwrap_or(0), None),
                    meter(UsageKind::Sms, 4, None),
                ],
                ("mobile-50", _) => vec![
                    meter(UsageKind::Data, u64::try_from(day * 1_100).unwrap_or(0), Some(51_200)),
                    meter(UsageKind::Voice, u64::try_from(day * 17).unwrap_or(0), None),
                    meter(UsageKind::Sms, 12, None),
                ],
                ("mobile-unlimited", _) => vec![
                    meter(UsageKind::Data, u64::try_from(day * 2_300).unwrap_or(0), None),
                    meter(UsageKind::Voice, u64::try_from(day * 25).unwrap_or(0), None),
                ],
                ("mobile-prepaid", _) => vec![
                    meter(UsageKind::Data, 6_350, Some(10_240)),
                    meter(UsageKind::Voice, 143, Some(200)),
                    meter(UsageKind::Sms, 2, Some(100)),
                ],
                ("addon-roaming-world", _) => {
                    vec![meter(UsageKind::Data, 820, Some(5_120)), meter(UsageKind::Voice, 12, Some(100))]
                }
                ("landline", _) => vec![meter(UsageKind::Voice, u64::try_from(day * 6).unwrap_or(0), None)],
                ("fibre-300" | "fibre-600" | "fibre-1g", _) => {
                    vec![meter(UsageKind::Data, u64::try_from(day * 14_000).unwrap_or(0), None)]
                }
                _ => continue,
            };
            let usage = Usage { product: product.id.clone(), period_start, period_end, meters };
            records.push(usage_record(cref, &account_id, &usage)?);
        }

        // Bills, newest first: the latest (issued on the 1st of this month, due at its end) is
        // open; older ones are settled, or overdue for a customer in arrears.
        let prepaid = seed.profile == Profile::Prepaid;
        let mut bills = Vec::new();
        let mut balance = 0i64;
        let mut overdue = 0i64;
        let mut due_date = None;
        if !prepaid {
            for k in 0..BILL_MONTHS {
                let issued = add_months(month_start(today), -k);
                let p_start = add_months(issued, -1);
                let p_end = issued.previous_day().unwrap_or(issued);
                let due = if k == 0 {
                    add_months(issued, 1).previous_day().unwrap_or(issued)
                } else {
                    issued.saturating_add(Duration::days(20))
                };
                let state = match (k, seed.profile) {
                    (0, _) => BillState::New,
                    (1 | 2, Profile::Arrears) => BillState::Overdue,
                    _ => BillState::Settled,
                };
                let bill_id =
                    BillRef::parse(&format!("{cref}-B{:04}{:02}", p_start.year(), u8::from(p_start.month())))?;
                let mut items = Vec::new();
                let adjustable = state != BillState::Settled;
                let mut add = |kind: BillItemKind, description: String, minor: i64, product: Option<&ProductRef>| {
                    push_item(&mut items, &bill_id, adjustable, kind, description, minor, product)
                };
                for (product, _, once) in &products {
                    let Some(start) = product.start_date else { continue };
                    if start > p_end {
                        continue;
                    }
                    let price = product.recurring_price.map_or(0, |m| m.minor);
                    add(
                        BillItemKind::Recurring,
                        format!("{} ({} to {})", product.name, iso(p_start), iso(p_end)),
                        price,
                        Some(&product.id),
                    )?;
                    if start >= p_start
                        && let Some(once) = once
                    {
                        add(
                            BillItemKind::OneTime,
                            format!("{}: installation", product.name),
                            once.minor,
                            Some(&product.id),
                        )?;
                    }
                }
                // Usage beyond the plan, varying by month.
                let mobile = products.iter().find(|(p, _, _)| p.family == ProductFamily::Mobile && p.parent.is_none());
                if let Some((m, _, _)) = mobile {
                    match k % 3 {
                        0 => add(
                            BillItemKind::Usage,
                            "Calls to premium-rate numbers (3 calls, 14 min)".into(),
                            340,
                            Some(&m.id),
                        )?,
                        1 => add(
                            BillItemKind::Usage,
                            "Roaming data outside the EU: 1.2 GB in Morocco".into(),
                            605,
                            Some(&m.id),
                        )?,
                        _ => add(
                            BillItemKind::Usage,
                            "International calls: 22 min to Portugal".into(),
                            198,
                            Some(&m.id),
                        )?,
                    }
                }
                if seed.profile == Profile::Family {
                    add(BillItemKind::Discount, "Bundle discount: mobile, fibre and TV".into(), -500, None)?;
                }
                if seed.profile == Profile::Arrears && k == 0 {
                    add(BillItemKind::OneTime, "Late payment fee".into(), 500, None)?;
                }
                let net: i64 = items.iter().map(|i| i.amount.minor).sum();
                let tax = (net * TAX_PERCENT + 50) / 100;
                push_item(
                    &mut items,
                    &bill_id,
                    adjustable,
                    BillItemKind::Tax,
                    format!("VAT {TAX_PERCENT}%"),
                    tax,
                    None,
                )?;
                let total = net + tax;
                let unpaid = if state == BillState::Settled { 0 } else { total };
                balance += unpaid;
                if state == BillState::Overdue {
                    overdue += unpaid;
                }
                if unpaid > 0 {
                    due_date = Some(due_date.map_or(due, |d: Date| d.min(due)));
                }
                let bill = Bill {
                    id: bill_id.clone(),
                    account: account_id.clone(),
                    number: format!(
                        "F{:04}{:02}-{}",
                        issued.year(),
                        u8::from(issued.month()),
                        &cref.chars().rev().take(4).collect::<String>().chars().rev().collect::<String>()
                    ),
                    state,
                    period_start: p_start,
                    period_end: p_end,
                    issued,
                    due,
                    total: eur(total),
                    unpaid: eur(unpaid),
                    items,
                };
                records.push(bill_record(cref, &bill)?);
                bills.push(bill_id);
            }
        }
        let account = BillingAccount {
            id: account_id.clone(),
            name: format!("{} — {}", seed.name, if prepaid { "prepaid" } else { "postpaid" }),
            kind: if prepaid { crate::PaymentKind::Prepaid } else { crate::PaymentKind::Postpaid },
            status: "active".to_owned(),
            // Prepaid: the credit left, negative.
            balance: eur(if prepaid { -1250 } else { balance }),
            overdue: eur(overdue),
            due_date,
        };
        records.push(account_record(&seed.id, &account)?);
        self.store.bss_insert_missing(&records).await.map_err(store_err)?;
        Ok(SeededCustomer {
            customer: seed.id.clone(),
            account: account_id,
            products: products.into_iter().map(|(p, _, _)| p.id).collect(),
            bills,
        })
    }
}

fn push_item(
    items: &mut Vec<BillItem>,
    bill: &BillRef,
    open: bool,
    kind: BillItemKind,
    description: String,
    minor: i64,
    product: Option<&ProductRef>,
) -> Result<()> {
    let n = items.len() + 1;
    items.push(BillItem {
        id: BillItemRef::parse(&format!("{bill}-{n}"))?,
        kind,
        description,
        amount: eur(minor),
        product: product.cloned(),
        adjustable: open && matches!(kind, BillItemKind::Recurring | BillItemKind::Usage | BillItemKind::OneTime),
    });
    Ok(())
}

fn meter(kind: UsageKind, used: u64, allowance: Option<u64>) -> UsageMeter {
    UsageMeter { kind, used: allowance.map_or(used, |a| used.min(a)), allowance }
}

fn iso(d: Date) -> String {
    super::iso(d)
}
