//! Demo mode (`serve --demo`): staff with a known password, their skills and softphones. For
//! trying Switchboard out, never for production.

use schema::{Role, SipIdentity, SkillLevel, Store};
use time::OffsetDateTime;

use crate::error::Error;
use crate::services::staff::ensure_staff;

/// Demo staff: (e-mail, name, roles). All share [`DEMO_PASSWORD`].
pub const DEMO_STAFF: &[(&str, &str, &[Role])] = &[
    ("admin@demo.switchboard.local", "Demo Admin", &[Role::Admin, Role::Agent]),
    ("ana@demo.switchboard.local", "Ana Agent", &[Role::Agent]),
    ("bruno@demo.switchboard.local", "Bruno Agent", &[Role::Agent, Role::Supervisor]),
    ("tina@demo.switchboard.local", "Tina Trainer", &[Role::BotTrainer]),
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
    seed_routing(store).await?;
    seed_softphones(store, sip_realm).await
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
