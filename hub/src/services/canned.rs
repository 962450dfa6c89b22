//! Canned responses: the per-queue library of reply snippets. Supervisors write them (global,
//! or for one queue of the routing rules); agents search those of the queues they serve (by
//! their skills, see `router::rules::RoutingRules::queues_served`) and the global ones.

use std::sync::Arc;

use schema::canned::{CannedContent, CannedFilter, CannedResponse, Shortcut};
use schema::{Agent, CannedResponseId, Language, Page, QueueName, Role};

use crate::error::Error;
use crate::services::Core;
use crate::services::routing::Routing;

/// Longest search, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// A canned response as a supervisor sends it.
#[derive(Debug, Default)]
pub struct CannedInput {
    /// A queue of the routing rules; `None` for every agent.
    pub queue: Option<String>,
    pub shortcut: String,
    pub title: String,
    pub body: String,
    /// `en`, `es` or `pt`.
    pub language: String,
}

/// What a list asks for, as given.
#[derive(Debug, Default)]
pub struct CannedQuery<'a> {
    /// Words to find in the shortcut, title or body.
    pub q: Option<&'a str>,
    pub language: Option<&'a str>,
    /// Only the global ones and this queue's.
    pub queue: Option<&'a str>,
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// The canned-response library.
#[derive(Debug)]
pub struct Canned {
    core: Core,
    routing: Arc<Routing>,
}

impl Canned {
    #[must_use]
    pub fn new(core: Core, routing: Arc<Routing>) -> Self {
        Self { core, routing }
    }

    /// The queues whose canned responses `agent` sees besides the global ones; `None`: all
    /// (supervisors).
    async fn scope(&self, agent: &Agent) -> Result<Option<Vec<QueueName>>, Error> {
        if agent.has_role(Role::Supervisor) {
            return Ok(None);
        }
        let skills = self.core.store.agent_routing(agent.id).await?.map(|r| r.skills).unwrap_or_default();
        Ok(Some(self.routing.rules().queues_served(&skills).into_iter().collect()))
    }

    /// The canned responses `agent` may use, by shortcut: the global ones and those of the
    /// queues they serve (every one for a supervisor), filtered by words, language and queue.
    ///
    /// # Errors
    /// A malformed language, queue, search or cursor (422), or the store fails.
    pub async fn list(&self, agent: &Agent, query: CannedQuery<'_>) -> Result<Page<CannedResponse>, Error> {
        let language = query.language.map(str::parse::<Language>).transpose()?;
        let queue = query.queue.map(str::parse::<QueueName>).transpose()?;
        if let Some(q) = query.q
            && q.chars().count() > MAX_QUERY_CHARS
        {
            return Err(Error::invalid("q", format!("at most {MAX_QUERY_CHARS} characters")));
        }
        let queues = match (self.scope(agent).await?, queue) {
            (None, None) => None,
            (None, Some(q)) => Some(vec![q]),
            (Some(mine), None) => Some(mine),
            (Some(mine), Some(q)) => Some(mine.into_iter().filter(|m| *m == q).collect()),
        };
        let filter = CannedFilter { queues, language, query: query.q.map(str::to_owned) };
        Ok(self.core.store.canned_responses(&filter, query.limit, query.cursor).await?)
    }

    /// One canned response, if `agent` may use it (else 404, as if it did not exist).
    ///
    /// # Errors
    /// Unknown or out of the agent's scope (404), or the store fails.
    pub async fn get(&self, agent: &Agent, id: CannedResponseId) -> Result<CannedResponse, Error> {
        let canned = self.core.store.canned_response(id).await?;
        let hidden = match (self.scope(agent).await?, &canned.content.queue) {
            (Some(mine), Some(queue)) => !mine.contains(queue),
            _ => false,
        };
        if hidden { Err(Error::NotFound("canned response")) } else { Ok(canned) }
    }

    /// A new canned response (supervisor).
    ///
    /// # Errors
    /// A field does not validate or names no queue of the rules (422), the shortcut is taken in
    /// that scope and language (409).
    pub async fn create(&self, supervisor: &Agent, input: CannedInput) -> Result<CannedResponse, Error> {
        let content = self.content(input)?;
        let canned = self.core.store.create_canned_response(content, supervisor.id).await?;
        tracing::info!(canned_id = %canned.id, shortcut = %canned.content.shortcut, by = %supervisor.id, "canned response created");
        Ok(canned)
    }

    /// Replaces a canned response (supervisor).
    ///
    /// # Errors
    /// Unknown (404), a field does not validate (422), the shortcut is taken (409).
    pub async fn update(
        &self,
        supervisor: &Agent,
        id: CannedResponseId,
        input: CannedInput,
    ) -> Result<CannedResponse, Error> {
        let content = self.content(input)?;
        let canned = self.core.store.update_canned_response(id, content).await?;
        tracing::info!(canned_id = %id, by = %supervisor.id, "canned response changed");
        Ok(canned)
    }

    /// Deletes a canned response (supervisor).
    ///
    /// # Errors
    /// Unknown (404), or the store fails.
    pub async fn delete(&self, supervisor: &Agent, id: CannedResponseId) -> Result<(), Error> {
        self.core.store.delete_canned_response(id).await?;
        tracing::info!(canned_id = %id, by = %supervisor.id, "canned response deleted");
        Ok(())
    }

    fn content(&self, input: CannedInput) -> Result<CannedContent, Error> {
        let queue = match input.queue.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => {
                let queue: QueueName = q.parse()?;
                if !self.routing.rules().queues.iter().any(|d| d.name == queue) {
                    return Err(Error::invalid("queue", format!("no queue {queue} in the routing rules")));
                }
                Some(queue)
            }
        };
        let shortcut: Shortcut = input.shortcut.parse()?;
        let language: Language = input.language.parse()?;
        Ok(CannedContent::new(queue, shortcut, &input.title, &input.body, language)?)
    }
}
