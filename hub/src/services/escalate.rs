//! Escalation: the one path by which a conversation gets a ticket for a person, whoever asks (an
//! agent's hand-over, the bot giving up, a phone call). It reads what the supervisors' rules look
//! at (channel, language, the customer's tier and churn risk, tags, the customer's last words),
//! classifies, adds
//! the skills the caller knows are needed, and hands the ticket to routing.

use std::collections::BTreeSet;
use std::sync::Arc;

use router::rules::Sample;
use schema::{Actor, AuthorKind, Conversation, ConversationId, Language, SkillRequirement, Ticket};
use time::OffsetDateTime;

use crate::error::Error;
use crate::services::Core;
use crate::services::churn::Churn;
use crate::services::routing::Routing;

/// How many recent messages are searched for the customer's last words.
const RECENT: i64 = 20;

/// A conversation that needs a person.
#[derive(Debug)]
pub struct Escalation<'a> {
    pub conversation: &'a Conversation,
    /// Tags the rules see and the ticket carries.
    pub tags: BTreeSet<String>,
    /// Tags only the ticket carries (e.g. why the bot gave up).
    pub ticket_tags: BTreeSet<String>,
    /// What the rules match text conditions against; `None`: the customer's last message.
    pub text: Option<String>,
    /// The language the rules see; `None`: the conversation's.
    pub language: Option<Language>,
    /// Skills needed besides the rules' own; where both name a skill, the higher level wins.
    pub skills: Vec<SkillRequirement>,
    /// The summary an agent reads first.
    pub summary: Option<String>,
    pub actor: Actor,
}

impl<'a> Escalation<'a> {
    /// An escalation of `conversation` by `actor` with nothing else said.
    #[must_use]
    pub fn new(conversation: &'a Conversation, actor: Actor) -> Self {
        Self {
            conversation,
            tags: BTreeSet::new(),
            ticket_tags: BTreeSet::new(),
            text: None,
            language: None,
            skills: Vec::new(),
            summary: None,
            actor,
        }
    }
}

/// Opens tickets for conversations that need a person.
#[derive(Debug)]
pub struct Escalate {
    core: Core,
    routing: Arc<Routing>,
    churn: Arc<Churn>,
}

impl Escalate {
    #[must_use]
    pub fn new(core: Core, routing: Arc<Routing>, churn: Arc<Churn>) -> Self {
        Self { core, routing, churn }
    }

    /// Classifies the conversation by the rules in force and opens its ticket.
    ///
    /// # Errors
    /// The conversation already has an open ticket (409), or the store fails.
    pub async fn escalate(&self, e: Escalation<'_>) -> Result<Ticket, Error> {
        let conversation = e.conversation;
        let customer = self.core.store.customer(conversation.customer_id).await?;
        let text = match e.text {
            Some(text) => text,
            None => self.last_customer_text(conversation.id, conversation.last_seq).await?,
        };
        let sample = Sample {
            channel: conversation.channel,
            language: e.language.unwrap_or(conversation.language),
            tier: customer.tier,
            tags: e.tags.iter().cloned().collect(),
            text,
            at: OffsetDateTime::now_utc().unix_timestamp() * 1000,
            churn_risk: self.churn.for_routing(customer.id).await,
        };
        let mut classification = self.routing.classify(&sample);
        merge_skills(&mut classification.target.skills, e.skills);
        let mut tags = e.tags;
        tags.extend(e.ticket_tags);
        self.routing.hand_over(conversation, classification, tags, e.summary, e.actor).await
    }

    async fn last_customer_text(&self, id: ConversationId, last_seq: i64) -> Result<String, Error> {
        let recent = self.core.store.messages_after(id, (last_seq - RECENT).max(0), RECENT as u32).await?;
        Ok(recent
            .iter()
            .rev()
            .find(|m| m.author == AuthorKind::Customer)
            .map(|m| m.text.as_str().to_owned())
            .unwrap_or_default())
    }
}

/// Adds `wanted` to `skills`, keeping the higher level where both name a skill.
fn merge_skills(skills: &mut Vec<SkillRequirement>, wanted: Vec<SkillRequirement>) {
    for req in wanted {
        match skills.iter_mut().find(|s| s.skill == req.skill) {
            Some(existing) => existing.level = existing.level.max(req.level),
            None => skills.push(req),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use schema::SkillLevel;

    use super::*;

    fn req(skill: &str, level: i64) -> SkillRequirement {
        SkillRequirement { skill: skill.parse().unwrap(), level: SkillLevel::try_from(level).unwrap() }
    }

    #[test]
    fn skills_merge_keeping_the_higher_level() {
        let mut skills = vec![req("billing", 3), req("spanish", 7)];
        merge_skills(&mut skills, vec![req("billing", 6), req("english", 5), req("spanish", 2)]);
        assert_eq!(skills, [req("billing", 6), req("spanish", 7), req("english", 5)]);
    }
}
