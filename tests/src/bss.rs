//! Billing fixtures for end-to-end tests: a hub customer linked to a seeded account of the
//! embedded BSS (the hub's default `[bss] kind = "embedded"`), in the test hub's own store.
//!
//! ```ignore
//! let linked = tests::bss::seed_linked_customer(&app, "Marta Test", bss::embedded::Profile::Arrears).await;
//! // linked.customer_id: the hub customer (for /api/v1/customers/{id}/...);
//! // linked.seeded: the BSS references (customer, account, products, bills newest first).
//! ```

use bss::embedded::{CustomerSeed, Embedded, Profile, SeededCustomer};
use bss::{CustomerRef, Lookup};
use schema::{Channel, ContactHandle, CustomerId, CustomerTier, Language, NewCustomer};

use crate::TestApp;

/// A hub customer and the BSS records linked to them.
#[derive(Clone, Debug)]
pub struct LinkedCustomer {
    pub customer_id: CustomerId,
    /// Their e-mail address (also their e-mail handle and BSS contact): `{bss ref}@example.com`
    /// in lower case.
    pub email: String,
    pub seeded: SeededCustomer,
}

/// The embedded BSS over the running test hub's store.
///
/// # Panics
/// The hub is stopped.
#[must_use]
pub fn embedded(app: &TestApp) -> Embedded {
    Embedded::new(app.hub.as_ref().expect("the hub runs").state.core.store.clone())
}

/// Seeds a BSS customer of `profile` (a fresh reference `T-…`, postcode 28013, phone
/// +34 699 …) and a hub customer named `name` linked to it, with an e-mail handle.
///
/// # Panics
/// The hub is stopped or the store fails.
pub async fn seed_linked_customer(app: &TestApp, name: &str, profile: Profile) -> LinkedCustomer {
    let reference = format!("T-{}", uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase());
    let email = format!("{}@example.com", reference.to_lowercase());
    let seed = CustomerSeed {
        email: Some(email.clone()),
        phone: Some(format!("+34699{:06}", rand_digits())),
        ..CustomerSeed::new(CustomerRef::parse(&reference).expect("reference"), name, profile)
    };
    seed_linked(app, &seed).await
}

/// As [`seed_linked_customer`], from a full seed (another postcode, segment, phone).
///
/// # Panics
/// The hub is stopped or the store fails.
pub async fn seed_linked(app: &TestApp, seed: &CustomerSeed) -> LinkedCustomer {
    let bss = embedded(app);
    let today = time::OffsetDateTime::now_utc().date();
    let seeded = bss.seed_customer(seed, today).await.expect("seed the BSS customer");
    let email = seed.email.clone().unwrap_or_else(|| format!("{}@example.com", seed.id.as_str().to_lowercase()));
    let new = NewCustomer {
        name: Some(seed.name.parse().expect("name")),
        email: Some(email.parse().expect("e-mail")),
        language: Language::Es,
        tier: CustomerTier::Standard,
        handles: vec![ContactHandle { channel: Channel::Email, handle: email.clone() }],
    };
    let customer = bss.store().create_linked_customer(new, seed.id.as_str()).await.expect("create the hub customer");
    LinkedCustomer { customer_id: customer.id, email, seeded }
}

/// Finds a seeded customer again by e-mail (a smoke test of the BSS lookups).
///
/// # Panics
/// The store fails.
pub async fn find_by_email(app: &TestApp, email: &str) -> Vec<CustomerRef> {
    use bss::Bss as _;
    embedded(app)
        .find_customers(&Lookup::Email(email.to_owned()), 5)
        .await
        .expect("lookup")
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn rand_digits() -> u32 {
    u32::try_from(uuid::Uuid::new_v4().as_u128() % 1_000_000).unwrap_or(0)
}
