//! Demo mode (`serve --demo`): staff with a known password, their skills and softphones, and a
//! few canned responses. For trying Switchboard out, never for production.

use schema::{Channel, ContactHandle, NewCustomer, Role, SipIdentity, SkillLevel, Store, StoreError};
use time::OffsetDateTime;

use crate::error::Error;
use crate::services::staff::ensure_staff;

/// Demo staff: (e-mail, name, roles). All share [`DEMO_PASSWORD`].
pub const DEMO_STAFF: &[(&str, &str, &[Role])] = &[
    ("admin@demo.switchboard.local", "Demo Admin", &[Role::Admin, Role::Agent]),
    ("ana@demo.switchboard.local", "Ana Agent", &[Role::Agent]),
    ("bruno@demo.switchboard.local", "Bruno Agent", &[Role::Agent, Role::Supervisor]),
    ("tina@demo.switchboard.local", "Tina Trainer", &[Role::BotTrainer]),
    ("otto@demo.switchboard.local", "Otto Auditor", &[Role::Auditor]),
];
/// The demo staff's password.
pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// Demo softphone identities: (staff e-mail, SIP username). Their password is the demo password.
pub const DEMO_SIP: &[(&str, &str)] =
    &[("ana@demo.switchboard.local", "ana"), ("bruno@demo.switchboard.local", "bruno")];

/// Seeds the demo staff, their routing skills and, for `sip_realm`, their softphones. Leaves
/// alone whatever exists already.
///
/// # Errors
/// The store fails.
pub async fn seed(store: &Store, sip_realm: &str) -> Result<(), Error> {
    for (email, name, roles) in DEMO_STAFF {
        ensure_staff(store, email, name, roles, DEMO_PASSWORD).await?;
    }
    // The demo accounts sign in with the password alone (the default policy asks supervisors and
    // admins for a second factor; an admin can turn that back on in the console).
    if let Some(email) = DEMO_STAFF.iter().find(|(_, _, roles)| roles.contains(&Role::Admin)).map(|s| s.0)
        && let Some((admin, _)) = store.agent_credentials(&email.parse()?).await?
    {
        crate::services::settings::seed_mfa_policy(store, admin.id, Vec::new()).await?;
    }
    seed_routing(store).await?;
    seed_softphones(store, sip_realm).await?;
    seed_canned(store).await
}

/// Demo canned responses: (queue, shortcut, language, title, body). `general` is the demo
/// rules' one queue.
pub const DEMO_CANNED: &[(Option<&str>, &str, &str, &str, &str)] = &[
    (
        None,
        "greeting",
        "en",
        "Greeting",
        "Hello, thank you for contacting us. My name is {agent_name}; how can I help you today?",
    ),
    (
        None,
        "roaming-on",
        "en",
        "Turn on roaming",
        "To use your phone abroad, turn on roaming in My Account > Lines > Roaming, then restart your phone. \
         Calls and data in the EU cost the same as at home.",
    ),
    (
        Some("general"),
        "bill-explained",
        "en",
        "Bill explained",
        "Your bill covers the month before it is issued: the plan fee, then any calls, data or roaming outside \
         the plan. You can see each line in My Account > Bills.",
    ),
    (
        None,
        "sim-swap",
        "en",
        "New SIM card",
        "We can send you a new SIM card at no cost. Your number and plan stay the same; the old SIM stops working \
         once you activate the new one.",
    ),
    (
        None,
        "saludo",
        "es",
        "Saludo",
        "Hola, gracias por contactar con nosotros. Me llamo {agent_name}; ¿en qué puedo ayudarle?",
    ),
    (
        None,
        "roaming-on",
        "es",
        "Activar la itinerancia",
        "Para usar el móvil en el extranjero, active la itinerancia (roaming) en Mi cuenta > Líneas > Roaming \
         y reinicie el teléfono. En la UE las llamadas y los datos cuestan lo mismo que en casa.",
    ),
    (
        Some("general"),
        "factura",
        "es",
        "Explicación de la factura",
        "Su factura incluye la cuota de la tarifa y lo que haya consumido fuera de ella el mes anterior. \
         Puede ver cada concepto en Mi cuenta > Facturas.",
    ),
    (
        None,
        "saudacao",
        "pt",
        "Saudação",
        "Olá, obrigado por nos contactar. O meu nome é {agent_name}; em que posso ajudar?",
    ),
    (
        None,
        "roaming-on",
        "pt",
        "Ativar o roaming",
        "Para usar o telemóvel no estrangeiro, ative o roaming em A minha conta > Linhas > Roaming e reinicie \
         o telefone. Na UE, as chamadas e os dados custam o mesmo que em casa.",
    ),
];

/// Seeds [`DEMO_CANNED`], written by the demo supervisor, when the library is empty (so
/// responses deleted in the demo stay deleted until it is empty again).
async fn seed_canned(store: &Store) -> Result<(), Error> {
    let empty = store.canned_responses(&schema::canned::CannedFilter::default(), 1, None).await?.items.is_empty();
    let Some((bruno, _)) = store.agent_credentials(&"bruno@demo.switchboard.local".parse()?).await? else {
        return Ok(());
    };
    if !empty {
        return Ok(());
    }
    for (queue, shortcut, language, title, body) in DEMO_CANNED {
        let content = schema::canned::CannedContent::new(
            queue.map(str::parse).transpose()?,
            shortcut.parse()?,
            title,
            body,
            language.parse()?,
        )?;
        store.create_canned_response(content, bruno.id).await?;
    }
    Ok(())
}

/// Demo skills: Ana handles billing in Spanish, Bruno technical issues in English. Only set for
/// an agent who has no routing profile yet.
async fn seed_routing(store: &Store) -> Result<(), Error> {
    let demo: [(&str, &[(&str, i64)]); 2] = [
        ("ana@demo.switchboard.local", &[("billing", 8), ("spanish", 9), ("english", 6)]),
        ("bruno@demo.switchboard.local", &[("tech", 7), ("english", 8), ("portuguese", 5)]),
    ];
    for (email, skills) in demo {
        let Some((agent, _)) = store.agent_credentials(&email.parse()?).await? else { continue };
        if store.agent_routing(agent.id).await?.is_some() {
            continue;
        }
        let skills = skills
            .iter()
            .map(|(s, l)| Ok((s.parse()?, SkillLevel::try_from(*l)?)))
            .collect::<Result<_, schema::ValidationError>>()?;
        let routing = schema::AgentRouting {
            agent_id: agent.id,
            skills,
            capacity: schema::Capacity::default(),
            presence: schema::Presence::Offline,
        };
        store.set_agent_routing(&routing).await?;
    }
    Ok(())
}

/// Gives the demo agents SIP identities (and the `voice` skill), unless they have one for `realm`.
async fn seed_softphones(store: &Store, realm: &str) -> Result<(), Error> {
    for (email, username) in DEMO_SIP {
        let Some((agent, _)) = store.agent_credentials(&email.parse()?).await? else { continue };
        if store.sip_identity(agent.id).await?.is_some_and(|i| i.realm == realm) {
            continue;
        }
        let identity = SipIdentity {
            agent_id: agent.id,
            username: (*username).to_owned(),
            realm: realm.to_owned(),
            ha1: channels::sip::digest::md5_ha1(username, realm, DEMO_PASSWORD),
            updated_at: OffsetDateTime::now_utc(),
        };
        store.set_sip_identity(&identity).await?;
        if let Some(mut routing) = store.agent_routing(agent.id).await? {
            routing.skills.entry("voice".parse()?).or_insert(SkillLevel::try_from(5i64)?);
            store.set_agent_routing(&routing).await?;
        }
    }
    Ok(())
}

/// Seeds the embedded BSS's demo catalogue and accounts (`bss::embedded::demo_customers`: BSS ids
/// `CUST-1001` to `CUST-1005`) and links each to a hub customer of the same name and e-mail
/// address, created the first time (without a conversation) and given the tier of
/// its segment. Idempotent: a restart finds the links and duplicates nothing.
///
/// # Errors
/// The store fails.
pub async fn seed_bss(bss: &bss::embedded::Embedded) -> Result<(), Error> {
    let store = bss.store();
    bss::embedded::seed_demo(bss).await?;
    for demo in bss::embedded::demo_customers()? {
        let seed = &demo.seed;
        let tier =
            crate::services::account360::tier_for_segment(seed.segment.as_deref().unwrap_or(seed.profile.segment()));
        let id = match store.customer_by_bss_id(seed.id.as_str()).await? {
            Some(id) => id,
            None => {
                let email = seed.email.as_deref().map(str::parse).transpose()?;
                let new = NewCustomer {
                    name: Some(seed.name.parse()?),
                    handles: seed
                        .email
                        .iter()
                        .map(|e| ContactHandle { channel: Channel::Email, handle: e.to_lowercase() })
                        .collect(),
                    email,
                    language: demo.language.parse()?,
                    tier,
                };
                match store.create_linked_customer(new, seed.id.as_str()).await {
                    Ok(customer) => customer.id,
                    // The address belongs to a customer already (made by hand in the demo): leave it.
                    Err(StoreError::Conflict(_)) => {
                        tracing::info!(bss_id = %seed.id, "a demo customer's e-mail address is taken; not linking it");
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        store.set_customer_tier(id, tier).await?;
    }
    Ok(())
}
