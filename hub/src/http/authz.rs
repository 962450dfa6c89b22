//! Authorisation before anything else: who may call an operation is declared once, on its route,
//! as the roles of its bearer security requirement (`security(("bearer" = ["supervisor"]))`;
//! several requirements are alternatives, `("bearer" = [])` is any signed-in staff member), and
//! this middleware checks it before any extractor reads the path, the query or the body.
//!
//! Without it, actix polls a handler's extractors together: a malformed body or id answered
//! `400`/`422` to callers whose role does not allow the call at all (and to expired sessions),
//! telling them what the endpoint takes. The handlers keep their own `Staff::require` checks
//! (and those that depend on the resource, "the agent themselves"); this one comes first.
//!
//! The same declarations are in the OpenAPI document, so the API says who may call what; the
//! end-to-end matrix (`tests/tests/e2e/authz.rs`) asks every operation as every role.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, ResponseError as _};
use schema::{Agent, Role};

use crate::error::Error;
use crate::http::auth::Authenticated;

/// Who may call one operation: any of these role sets (each needs all its roles; an empty one
/// is any signed-in staff member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access(Vec<Vec<Role>>);

impl Access {
    /// Whether `agent` meets one of the alternatives.
    #[must_use]
    pub fn allows(&self, agent: &Agent) -> bool {
        self.0.iter().any(|all| all.iter().all(|r| agent.has_role(*r)))
    }

    /// The alternatives, as declared.
    #[must_use]
    pub fn alternatives(&self) -> &[Vec<Role>] {
        &self.0
    }

    fn refusal(&self) -> Error {
        let needs: Vec<String> =
            self.0.iter().map(|all| all.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" and ")).collect();
        Error::Forbidden(format!("this needs the {} role", needs.join(" or ")))
    }
}

/// Why a route's declaration cannot be enforced (a unit test keeps the table free of them).
#[derive(Debug, PartialEq, Eq)]
pub struct BadDeclaration {
    pub operation: String,
    pub scope: String,
}

type Table = HashMap<(String, String), Access>;

/// Every operation that takes a staff bearer token, by (upper-case method, path pattern), from
/// the OpenAPI document of the route table; and the declarations that name no role.
fn build(doc: &utoipa::openapi::OpenApi) -> (Table, Vec<BadDeclaration>) {
    let mut table = HashMap::new();
    let mut bad = Vec::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, operation) in operations {
            let Some(security) = operation.as_ref().and_then(|o| o.security.as_ref()) else {
                continue;
            };
            let Ok(serde_json::Value::Array(requirements)) = serde_json::to_value(security) else {
                continue;
            };
            let mut alternatives = Vec::new();
            let mut takes_bearer = false;
            for requirement in requirements {
                let Some(scopes) = requirement.get("bearer").and_then(serde_json::Value::as_array) else {
                    continue;
                };
                takes_bearer = true;
                let mut roles = Vec::new();
                let mut valid = true;
                for scope in scopes {
                    let name = scope.as_str().unwrap_or_default();
                    match name.parse::<Role>() {
                        Ok(role) => roles.push(role),
                        Err(_) => {
                            bad.push(BadDeclaration { operation: format!("{method} {path}"), scope: name.to_owned() });
                            valid = false;
                        }
                    }
                }
                // Fail closed: an alternative naming no role opens nothing (no alternative left:
                // nobody may call it).
                if valid {
                    alternatives.push(roles);
                }
            }
            if takes_bearer {
                table.insert((method.to_owned(), path.clone()), Access(alternatives));
            }
        }
    }
    (table, bad)
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| build(crate::http::openapi()).0)
}

/// Who may call `method` on the route `pattern` (as the route table spells it), or `None` when
/// the operation takes no staff token (pages, web chat, webhooks, the sockets, which check
/// their token after the upgrade).
#[must_use]
pub fn access(method: &str, pattern: &str) -> Option<&'static Access> {
    table().get(&(method.to_owned(), pattern.to_owned()))
}

/// The middleware: for an operation that declares staff access, authenticates the caller (401)
/// and checks the roles (403) before the handler's extractors run; the session is kept for the
/// handler's [`Staff`](crate::http::auth::Staff).
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let declared = req.match_pattern().and_then(|pattern| access(req.method().as_str(), &pattern));
    let Some(access) = declared else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let checked = match Authenticated::of(req.request()).await {
        Ok(found) if access.allows(&found.session.agent) => Ok(found),
        Ok(_) => Err(access.refusal()),
        Err(e) => Err(e),
    };
    match checked {
        Ok(found) => {
            req.extensions_mut().insert(found);
            next.call(req).await.map(ServiceResponse::map_into_boxed_body)
        }
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every declared scope is a role: a misspelt one would lock the route for everybody.
    #[test]
    fn every_declared_scope_is_a_role() {
        let (table, bad) = build(crate::http::openapi());
        assert_eq!(bad, vec![], "scopes of `security((\"bearer\" = [...]))` must be role names");
        assert!(table.len() >= 70, "the staff operations are declared: {}", table.len());
        let me = access("GET", "/api/v1/me").unwrap();
        assert_eq!(me.alternatives(), &[Vec::<Role>::new()]);
        let profile = access("GET", "/api/v1/agents/{id}/routing").unwrap();
        assert_eq!(profile.alternatives(), &[vec![Role::Agent], vec![Role::Supervisor]]);
        assert!(access("GET", "/ws/inbox").is_none(), "sockets check their token after the upgrade");
        assert!(access("POST", "/api/v1/webchat/sessions").is_none());
    }

    /// Every API operation but the public ones (and the Alertmanager webhook, which checks its own
    /// bearer token) declares who may call it: one that declared nothing would be checked late
    /// again, after its body was read.
    #[test]
    fn api_operations_declare_their_access() {
        let doc = crate::http::openapi();
        let undeclared: Vec<String> = doc
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                [("GET", &item.get), ("PUT", &item.put), ("POST", &item.post), ("DELETE", &item.delete)]
                    .into_iter()
                    .filter_map(move |(m, op)| op.as_ref().map(|op| (m, path, op)))
            })
            .filter(|(_, path, op)| {
                op.security.is_none() && path.starts_with("/api/v1/") && !path.starts_with("/api/v1/webchat/")
            })
            .filter(|(m, path, _)| {
                !matches!(
                    (*m, path.as_str()),
                    ("POST", "/api/v1/auth/login" | "/api/v1/auth/login/mfa" | "/api/v1/auth/sso/exchange")
                        | ("POST", "/api/v1/webhooks/alertmanager")
                        | ("GET", "/api/v1/auth/methods" | "/api/v1/auth/sso/start" | "/api/v1/auth/sso/callback")
                        | ("GET", "/api/v1/openapi.yaml" | "/api/v1/openapi.json" | "/api/v1/webchat/config")
                )
            })
            .map(|(m, path, _)| format!("{m} {path}"))
            .collect();
        assert_eq!(undeclared, Vec::<String>::new(), "API operations without a security declaration");
    }
}
