//! Settings administrators change at run time: the chat widget's look and allowed origins, how
//! long data is kept, and which roles must use two-step sign-in. The config file's `[widget]` section is the default; once an admin
//! saves, the stored value wins. Values are validated here, kept in memory for the origin check
//! and the widget's configuration (read on every web chat request), and re-read from the store
//! every [`REFRESH`] so that every hub node sharing the database follows a change.
//!
//! Retention is enforced by the scheduled job in `services::privacy`.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use schema::{Agent, AgentId, ConsoleSetting, Role, Store, ValidationError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::WidgetSettings;
use crate::error::Error;

/// How often other nodes' saves are picked up.
pub const REFRESH: Duration = Duration::from_secs(10);
const WIDGET: &str = "widget";
const RETENTION: &str = "retention";
const MFA_POLICY: &str = "mfa_policy";

/// Which roles must use two-step sign-in (TOTP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicy {
    pub required_roles: Vec<Role>,
}

impl MfaPolicy {
    fn new(mut roles: Vec<Role>) -> Self {
        roles.sort();
        roles.dedup();
        Self { required_roles: roles }
    }
}

/// Saves `roles` as the two-step sign-in policy unless an administrator saved one (demo data).
///
/// # Errors
/// The store fails.
pub async fn seed_mfa_policy(store: &Store, by: AgentId, roles: Vec<Role>) -> Result<(), Error> {
    if store.console_setting(MFA_POLICY).await?.is_none() {
        let json = serde_json::to_string(&MfaPolicy::new(roles)).map_err(Error::internal)?;
        store.save_console_setting(MFA_POLICY, &json, by).await?;
    }
    Ok(())
}

/// Most allowed origins.
pub const MAX_ORIGINS: usize = 50;
/// Longest widget title, in characters.
pub const MAX_TITLE_CHARS: usize = 60;
/// Longest widget greeting, in characters.
pub const MAX_GREETING_CHARS: usize = 300;
/// The contrast the widget's text on its colour must reach (WCAG AA, normal text).
pub const MIN_CONTRAST: f64 = 4.5;
/// Retention bounds, in days.
pub const MIN_RETENTION_DAYS: u32 = 1;
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// How long data is kept, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Conversations (with their tickets) after their last change.
    pub conversations_days: u32,
    /// Message texts and files; at most `conversations_days`.
    pub messages_days: u32,
    /// The audit trail.
    pub audit_days: u32,
    /// Raw copies of mail received and sent (the parsed text stays, as a message).
    #[serde(default = "default_days")]
    pub raw_mail_days: u32,
    /// E-mail attachments and files sent in the web chat.
    #[serde(default = "default_days")]
    pub attachments_days: u32,
    /// The caller's number on call records (the record itself stays, for counts).
    #[serde(default = "default_days")]
    pub calls_days: u32,
}

/// Data kinds added after the first retention settings were saved take this default.
const fn default_days() -> u32 {
    730
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            conversations_days: 730,
            messages_days: 730,
            audit_days: 1825,
            raw_mail_days: default_days(),
            attachments_days: default_days(),
            calls_days: default_days(),
        }
    }
}

/// Who saved a setting and when; `None` while the config file's default is in force.
#[derive(Clone, Copy, Debug)]
pub struct Saved {
    pub at: OffsetDateTime,
    pub by: AgentId,
}

impl From<&ConsoleSetting> for Saved {
    fn from(s: &ConsoleSetting) -> Self {
        Self { at: s.updated_at, by: s.updated_by }
    }
}

#[derive(Clone, Debug)]
struct Current {
    widget: WidgetSettings,
    widget_saved: Option<Saved>,
    retention: Retention,
    retention_saved: Option<Saved>,
    mfa: MfaPolicy,
    mfa_saved: Option<Saved>,
}

/// The run-time settings.
#[derive(Debug)]
pub struct Settings {
    store: Store,
    defaults: WidgetSettings,
    mfa_default: MfaPolicy,
    current: RwLock<Current>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Validation(ValidationError::Invalid { field, reason: reason.into() })
}

/// `#rrggbb` as (r, g, b).
fn rgb(field: &'static str, value: &str) -> Result<[u8; 3], Error> {
    let hex = value.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let hex = hex.ok_or_else(|| invalid(field, "a colour as #rrggbb"))?;
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| invalid(field, "a colour as #rrggbb"));
    Ok([byte(0)?, byte(2)?, byte(4)?])
}

/// WCAG 2 contrast ratio of two colours (1 to 21).
#[must_use]
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    fn luminance(c: [u8; 3]) -> f64 {
        let lin = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.039_28 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
        };
        0.0722f64.mul_add(lin(c[2]), 0.2126f64.mul_add(lin(c[0]), 0.7152 * lin(c[1])))
    }
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

fn text_field(field: &'static str, value: &str, max: usize) -> Result<String, Error> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "no control characters or line breaks"));
    }
    Ok(value.to_owned())
}

/// `*`, or `http(s)://host[:port]` with nothing after: normalised (lower case, no slash).
fn origin(value: &str) -> Result<String, Error> {
    let value = value.trim();
    if value == "*" {
        return Ok(value.to_owned());
    }
    let bad = || invalid("allowed_origins", format!("{value:?} is not an origin like https://shop.example"));
    // As `http::origin::normalize` compares them.
    let normalized = value.trim_end_matches('/').to_ascii_lowercase();
    let (scheme, host) = normalized.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || host.is_empty() || host.len() > 253 {
        return Err(bad());
    }
    let (name_ok, port) = if let Some(rest) = host.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = if after.is_empty() { None } else { Some(after.strip_prefix(':').ok_or_else(bad)?) };
        (addr.parse::<std::net::Ipv6Addr>().is_ok(), port)
    } else {
        let (name, port) = host.split_once(':').map_or((host, None), |(n, p)| (n, Some(p)));
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')), port)
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if name_ok && port_ok { Ok(normalized) } else { Err(bad()) }
}

/// Validates widget settings as an admin sends them.
///
/// # Errors
/// 422 naming the first field that does not validate.
pub fn validate_widget(input: WidgetSettings) -> Result<WidgetSettings, Error> {
    let title = text_field("title", &input.title, MAX_TITLE_CHARS)?;
    let greeting = text_field("greeting", &input.greeting, MAX_GREETING_CHARS)?;
    let primary = rgb("primary_color", &input.primary_color)?;
    let on_primary = rgb("on_primary_color", &input.on_primary_color)?;
    let ratio = contrast(primary, on_primary);
    if ratio < MIN_CONTRAST {
        return Err(invalid(
            "on_primary_color",
            format!("the contrast with the primary colour is {ratio:.2}:1; it must be at least {MIN_CONTRAST}:1"),
        ));
    }
    if input.allowed_origins.len() > MAX_ORIGINS {
        return Err(invalid("allowed_origins", format!("at most {MAX_ORIGINS} origins")));
    }
    let mut origins = Vec::with_capacity(input.allowed_origins.len());
    for o in &input.allowed_origins {
        let o = origin(o)?;
        if !origins.contains(&o) {
            origins.push(o);
        }
    }
    Ok(WidgetSettings {
        allowed_origins: origins,
        title,
        greeting,
        primary_color: input.primary_color.to_ascii_lowercase(),
        on_primary_color: input.on_primary_color.to_ascii_lowercase(),
    })
}

/// Validates retention settings.
///
/// # Errors
/// 422 naming the field out of bounds.
pub fn validate_retention(r: Retention) -> Result<Retention, Error> {
    let range = MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS;
    for (field, days) in [
        ("conversations_days", r.conversations_days),
        ("messages_days", r.messages_days),
        ("audit_days", r.audit_days),
        ("raw_mail_days", r.raw_mail_days),
        ("attachments_days", r.attachments_days),
        ("calls_days", r.calls_days),
    ] {
        if !range.contains(&days) {
            return Err(invalid(field, format!("between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days")));
        }
    }
    if r.messages_days > r.conversations_days {
        return Err(invalid("messages_days", "at most as long as conversations are kept"));
    }
    Ok(r)
}

impl Settings {
    /// The settings as stored, over the config file's defaults.
    ///
    /// # Errors
    /// The store fails.
    pub async fn load(store: Store, defaults: WidgetSettings, mfa_required_roles: Vec<Role>) -> Result<Self, Error> {
        let mfa_default = MfaPolicy::new(mfa_required_roles);
        let current = read(&store, &defaults, &mfa_default).await?;
        Ok(Self { store, defaults, mfa_default, current: RwLock::new(current) })
    }

    fn current(&self) -> Current {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The widget's settings in force, and who saved them (`None`: the config file's).
    #[must_use]
    pub fn widget(&self) -> (WidgetSettings, Option<Saved>) {
        let c = self.current();
        (c.widget, c.widget_saved)
    }

    /// The origins allowed to use the chat (checked on every web chat request).
    #[must_use]
    pub fn allowed_origins(&self) -> Vec<String> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).widget.allowed_origins.clone()
    }

    /// The retention in force, and who saved it (`None`: the built-in default).
    #[must_use]
    pub fn retention(&self) -> (Retention, Option<Saved>) {
        let c = self.current();
        (c.retention, c.retention_saved)
    }

    /// The roles that must use two-step sign-in, and who saved that (`None`: the config file's).
    #[must_use]
    pub fn mfa_policy(&self) -> (Vec<Role>, Option<Saved>) {
        let c = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (c.mfa.required_roles.clone(), c.mfa_saved)
    }

    /// Saves which roles must use two-step sign-in; it applies at once (members of those roles
    /// without it can then only set it up).
    ///
    /// # Errors
    /// The store fails.
    pub async fn save_mfa_policy(&self, by: &Agent, roles: Vec<Role>) -> Result<(Vec<Role>, Saved), Error> {
        let policy = MfaPolicy::new(roles);
        let json = serde_json::to_string(&policy).map_err(Error::internal)?;
        let stored = self.store.save_console_setting(MFA_POLICY, &json, by.id).await?;
        let saved = Saved::from(&stored);
        {
            let mut c = self.current.write().unwrap_or_else(PoisonError::into_inner);
            c.mfa = policy.clone();
            c.mfa_saved = Some(saved);
        }
        tracing::info!(by = %by.id, roles = ?policy.required_roles, "two-step sign-in policy saved");
        Ok((policy.required_roles, saved))
    }

    /// Validates and saves the widget's settings; they apply at once.
    ///
    /// # Errors
    /// 422 for a field that does not validate; the store fails.
    pub async fn save_widget(&self, by: &Agent, input: WidgetSettings) -> Result<(WidgetSettings, Saved), Error> {
        let widget = validate_widget(input)?;
        let json = serde_json::to_string(&widget).map_err(|e| Error::Internal(e.to_string()))?;
        let stored = self.store.save_console_setting(WIDGET, &json, by.id).await?;
        let saved = Saved::from(&stored);
        {
            let mut c = self.current.write().unwrap_or_else(PoisonError::into_inner);
            c.widget = widget.clone();
            c.widget_saved = Some(saved);
        }
        tracing::info!(by = %by.id, origins = widget.allowed_origins.len(), "widget settings saved");
        Ok((widget, saved))
    }

    /// Validates and saves the retention settings.
    ///
    /// # Errors
    /// 422 for a value out of bounds; the store fails.
    pub async fn save_retention(&self, by: &Agent, input: Retention) -> Result<(Retention, Saved), Error> {
        let retention = validate_retention(input)?;
        let json = serde_json::to_string(&retention).map_err(|e| Error::Internal(e.to_string()))?;
        let stored = self.store.save_console_setting(RETENTION, &json, by.id).await?;
        let saved = Saved::from(&stored);
        {
            let mut c = self.current.write().unwrap_or_else(PoisonError::into_inner);
            c.retention = retention;
            c.retention_saved = Some(saved);
        }
        tracing::info!(by = %by.id, ?retention, "retention settings saved");
        Ok((retention, saved))
    }

    /// Re-reads the stored settings every [`REFRESH`] (other nodes' saves) until shutdown.
    pub async fn refresh(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut interval = tokio::time::interval(REFRESH);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => match read(&self.store, &self.defaults, &self.mfa_default).await {
                    Ok(current) => *self.current.write().unwrap_or_else(PoisonError::into_inner) = current,
                    Err(e) => tracing::warn!(error = %e, "cannot re-read the console settings"),
                },
            }
        }
    }
}

async fn read(store: &Store, defaults: &WidgetSettings, mfa_default: &MfaPolicy) -> Result<Current, Error> {
    let corrupt = |name: &str, e: serde_json::Error| Error::Internal(format!("stored {name} settings: {e}"));
    let (widget, widget_saved) = match store.console_setting(WIDGET).await? {
        Some(s) => (serde_json::from_str(&s.value).map_err(|e| corrupt(WIDGET, e))?, Some(Saved::from(&s))),
        None => (defaults.clone(), None),
    };
    let (retention, retention_saved) = match store.console_setting(RETENTION).await? {
        Some(s) => (serde_json::from_str(&s.value).map_err(|e| corrupt(RETENTION, e))?, Some(Saved::from(&s))),
        None => (Retention::default(), None),
    };
    let (mfa, mfa_saved) = match store.console_setting(MFA_POLICY).await? {
        Some(s) => (serde_json::from_str(&s.value).map_err(|e| corrupt(MFA_POLICY, e))?, Some(Saved::from(&s))),
        None => (mfa_default.clone(), None),
    };
    Ok(Current { widget, widget_saved, retention, retention_saved, mfa, mfa_saved })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn widget(primary: &str, on: &str) -> WidgetSettings {
        WidgetSettings { primary_color: primary.into(), on_primary_color: on.into(), ..WidgetSettings::default() }
    }

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 0.01);
        assert!((contrast([255, 255, 255], [255, 255, 255]) - 1.0).abs() < 0.01);
        // #767676 on white is the classic 4.54:1.
        assert!((contrast([0x76, 0x76, 0x76], [255, 255, 255]) - 4.54).abs() < 0.01);
    }

    #[test]
    fn colours_must_be_hex_and_readable() {
        assert!(validate_widget(widget("#0B57D0", "#ffffff")).is_ok());
        assert_eq!(validate_widget(widget("#0B57D0", "#ffffff")).unwrap().primary_color, "#0b57d0");
        for (p, o, field) in [
            ("red", "#ffffff", "primary_color"),
            ("#0b57d0", "#fff", "on_primary_color"),
            ("#777777", "#ffffff", "on_primary_color"),
            ("#ffff00", "#ffffff", "on_primary_color"),
        ] {
            match validate_widget(widget(p, o)) {
                Err(Error::Validation(ValidationError::Invalid { field: f, .. })) => assert_eq!(f, field, "{p} {o}"),
                other => panic!("{p} {o}: {other:?}"),
            }
        }
    }

    #[test]
    fn origins_are_checked_and_normalised() {
        let mut w = widget("#0b57d0", "#ffffff");
        w.allowed_origins = vec!["https://Shop.example/".into(), "http://127.0.0.1:8080".into(), "*".into()];
        let ok = validate_widget(w.clone()).unwrap();
        assert_eq!(ok.allowed_origins, ["https://shop.example", "http://127.0.0.1:8080", "*"]);
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/path",
            "https://",
            "https://a b",
            "https://x:99999",
        ] {
            w.allowed_origins = vec![bad.into()];
            assert!(validate_widget(w.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts_are_bounded() {
        let mut w = widget("#0b57d0", "#ffffff");
        w.title = "x".repeat(MAX_TITLE_CHARS + 1);
        assert!(validate_widget(w.clone()).is_err());
        w.title = "Help\nme".into();
        assert!(validate_widget(w).is_err());
    }

    #[test]
    fn retention_is_bounded() {
        assert!(validate_retention(Retention::default()).is_ok());
        for r in [
            Retention { conversations_days: 0, ..Retention::default() },
            Retention { audit_days: MAX_RETENTION_DAYS + 1, ..Retention::default() },
            Retention { conversations_days: 30, messages_days: 60, ..Retention::default() },
            Retention { calls_days: 0, ..Retention::default() },
        ] {
            assert!(validate_retention(r).is_err(), "{r:?}");
        }
    }
}
