//! Prometheus Alertmanager's webhook (`webhook_config`, payload version 4): parsed strictly
//! (the documented fields only, each of its type; another version is refused) and mapped to
//! incidents by configured labels. Every alert of a call is mapped before anything is written,
//! so a call with one unmappable alert writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use schema::incidents::{CellId, IncidentText, Postcode, ServiceKind};
use schema::{Language, ValidationError};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::config::AlertmanagerMapping;
use crate::error::{Error, ErrorCode};

/// Most labels (and annotations) one alert may carry.
const MAX_LABELS: usize = 64;
/// Longest label or annotation value, in bytes.
const MAX_VALUE_BYTES: usize = 4_096;

/// A webhook call's body, as Alertmanager documents it (version 4). Every documented field is
/// required and typed, so a body of another shape is refused, though not all are used.
#[expect(dead_code, reason = "parsed to check the shape; the mapping reads the labels")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Payload {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: AlertStatus,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of the group.
#[expect(dead_code, reason = "parsed to check the shape; the mapping reads the labels")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// `0001-01-01T00:00:00Z` while firing with no end known.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

fn malformed(message: impl Into<String>) -> Error {
    Error::BadRequest { code: ErrorCode::MalformedWebhook, message: message.into() }
}

/// Parses a call's body: JSON of version 4 with at most `max_alerts` alerts, labels and
/// annotations bounded.
///
/// # Errors
/// `malformed_webhook` (400) saying what is wrong: not JSON, another version, a missing or
/// mistyped field (by its path), too many alerts or labels.
pub fn parse(body: &[u8], max_alerts: usize) -> Result<Payload, Error> {
    // The version first, so another version is named as such rather than as a shape mismatch.
    let raw: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    match raw.get("version").and_then(serde_json::Value::as_str) {
        Some("4") => {}
        Some(other) => {
            return Err(malformed(format!(
                "unsupported Alertmanager webhook version {other:?}: this hub reads version \"4\""
            )));
        }
        None => return Err(malformed("not an Alertmanager webhook: no \"version\"")),
    }
    if raw.get("alerts").and_then(serde_json::Value::as_array).is_some_and(|a| a.len() > max_alerts) {
        return Err(malformed(format!("at most {max_alerts} alerts per call (set Alertmanager's max_alerts)")));
    }
    let payload: Payload = serde_path_to_error::deserialize(raw)
        .map_err(|e| malformed(format!("not an Alertmanager webhook at {}: {}", e.path(), e.inner())))?;
    for (i, alert) in payload.alerts.iter().enumerate() {
        if alert.labels.len() > MAX_LABELS || alert.annotations.len() > MAX_LABELS {
            return Err(malformed(format!("alerts[{i}]: at most {MAX_LABELS} labels and annotations")));
        }
        let long = alert.labels.iter().chain(&alert.annotations).any(|(k, v)| k.len() + v.len() > MAX_VALUE_BYTES);
        if long {
            return Err(malformed(format!("alerts[{i}]: a label or annotation over {MAX_VALUE_BYTES} bytes")));
        }
        if alert.fingerprint.is_empty()
            || alert.fingerprint.len() > schema::incidents::MAX_FINGERPRINT_CHARS
            || !alert.fingerprint.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(malformed(format!("alerts[{i}].fingerprint: 1 to 128 printable ASCII characters")));
        }
    }
    Ok(payload)
}

/// An alert as an incident's content.
#[derive(Debug)]
pub struct Mapped {
    pub fingerprint: String,
    pub firing: bool,
    pub text: IncidentText,
    pub texts: BTreeMap<Language, IncidentText>,
    pub services: BTreeSet<ServiceKind>,
    pub postcodes: BTreeSet<Postcode>,
    pub cells: BTreeSet<CellId>,
    pub started_at: OffsetDateTime,
    pub eta: Option<OffsetDateTime>,
}

/// A 422 naming the label (or annotation) of alert `i` at fault.
fn unmapped(i: usize, part: &str, name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRules { field: format!("alerts[{i}].{part}.{name}"), message: reason.into() }
}

/// Values of a list label: separated by commas, semicolons or white space.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty())
}

/// Maps alert `i` by the configured labels. `None`: less severe than `severity_min` (ignored).
///
/// # Errors
/// A 422 (`invalid_field`, `field` = `alerts[i].labels.<label>`) naming the missing or
/// unreadable label: no area, no service, an unknown service or severity, a bad postcode or cell.
pub fn map(i: usize, alert: &Alert, m: &AlertmanagerMapping) -> Result<Option<Mapped>, Error> {
    if !m.severity_min.is_empty() {
        let rank = |s: &str| m.severities.iter().position(|x| x == s);
        let min = rank(&m.severity_min).unwrap_or(0);
        let Some(severity) = alert.labels.get(&m.severity_label) else {
            return Err(unmapped(i, "labels", &m.severity_label, "the alert has no severity label"));
        };
        match rank(severity) {
            None => {
                return Err(unmapped(
                    i,
                    "labels",
                    &m.severity_label,
                    format!("unknown severity {severity:?}: one of {}", m.severities.join(", ")),
                ));
            }
            Some(r) if r < min => return Ok(None),
            Some(_) => {}
        }
    }
    let area = alert.labels.get(&m.area_label);
    let cells_label = alert.labels.get(&m.cells_label);
    if area.is_none() && cells_label.is_none() {
        return Err(unmapped(
            i,
            "labels",
            &m.area_label,
            format!("the alert names no area: set the {:?} or {:?} label", m.area_label, m.cells_label),
        ));
    }
    let postcodes = area
        .map(|v| list(v).map(str::parse::<Postcode>).collect::<Result<BTreeSet<_>, ValidationError>>())
        .transpose()
        .map_err(|e| unmapped(i, "labels", &m.area_label, e.to_string()))?
        .unwrap_or_default();
    let cells = cells_label
        .map(|v| list(v).map(str::parse::<CellId>).collect::<Result<BTreeSet<_>, ValidationError>>())
        .transpose()
        .map_err(|e| unmapped(i, "labels", &m.cells_label, e.to_string()))?
        .unwrap_or_default();
    let Some(services) = alert.labels.get(&m.service_label) else {
        return Err(unmapped(i, "labels", &m.service_label, "the alert names no service"));
    };
    let services = list(services)
        .map(str::parse::<ServiceKind>)
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|e| unmapped(i, "labels", &m.service_label, e.to_string()))?;
    let title_of = |name: &str| alert.annotations.get(name).map(String::as_str).filter(|t| !t.trim().is_empty());
    let title = title_of(&m.title_annotation)
        .or_else(|| alert.labels.get("alertname").map(String::as_str))
        .ok_or_else(|| unmapped(i, "annotations", &m.title_annotation, "the alert has no title (nor alertname)"))?;
    let description = title_of(&m.description_annotation).unwrap_or("");
    let text = IncidentText::new(title, description)
        .map_err(|e| unmapped(i, "annotations", &m.title_annotation, e.to_string()))?;
    let mut texts = BTreeMap::new();
    for language in Language::ALL {
        let t = title_of(&format!("{}_{}", m.title_annotation, language.as_str()));
        let d = title_of(&format!("{}_{}", m.description_annotation, language.as_str()));
        if let Some(t) = t {
            let text = IncidentText::new(t, d.unwrap_or(""))
                .map_err(|e| unmapped(i, "annotations", &m.title_annotation, e.to_string()))?;
            texts.insert(*language, text);
        }
    }
    let eta = title_of(&m.eta_annotation)
        .map(|v| OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339))
        .transpose()
        .map_err(|e| unmapped(i, "annotations", &m.eta_annotation, format!("not an RFC 3339 time: {e}")))?;
    let mapped = Mapped {
        fingerprint: alert.fingerprint.clone(),
        firing: alert.status == AlertStatus::Firing,
        text,
        texts,
        services,
        postcodes,
        cells,
        started_at: alert.starts_at,
        eta,
    };
    let content_check = schema::incidents::IncidentContent {
        text: mapped.text.clone(),
        texts: BTreeMap::new(),
        services: mapped.services.clone(),
        postcodes: mapped.postcodes.clone(),
        cells: mapped.cells.clone(),
        status: schema::incidents::IncidentStatus::Investigating,
        started_at: mapped.started_at,
        eta: None,
    };
    content_check.check().map_err(|e| unmapped(i, "labels", &m.area_label, e.to_string()))?;
    Ok(Some(mapped))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(labels: &str, status: &str) -> String {
        format!(
            r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"FibreDown\"}}","truncatedAlerts":0,"status":"{status}",
            "receiver":"switchboard","groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},
            "externalURL":"http://am:9093","alerts":[{{"status":"{status}","labels":{labels},
            "annotations":{{"summary":"Fibre outage","summary_es":"Avería de fibra","eta":"2026-11-29T22:00:00Z"}},
            "startsAt":"2026-11-29T18:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph",
            "fingerprint":"1a30ba71cca2921f"}}]}}"#
        )
    }

    #[test]
    fn a_documented_payload_maps_by_labels() {
        let p = parse(
            body(
                r#"{"alertname":"FibreDown","postcode":"28013, 28014","service":"fibre","severity":"critical"}"#,
                "firing",
            )
            .as_bytes(),
            10,
        )
        .unwrap();
        let m = map(0, &p.alerts[0], &AlertmanagerMapping::default()).unwrap().unwrap();
        assert!(m.firing);
        assert_eq!(m.postcodes.len(), 2);
        assert_eq!(m.text.title, "Fibre outage");
        assert_eq!(m.texts[&Language::Es].title, "Avería de fibra");
        assert!(m.eta.is_some());
    }

    #[test]
    fn bad_bodies_are_named() {
        for (b, needle) in [
            ("garbage".to_owned(), "not JSON"),
            (r#"{"version":"3"}"#.to_owned(), "version"),
            (r#"{"version":"4","alerts":"x"}"#.to_owned(), "not an Alertmanager webhook at"),
        ] {
            let e = parse(b.as_bytes(), 10).unwrap_err();
            assert_eq!(e.code(), ErrorCode::MalformedWebhook);
            assert!(e.to_string().contains(needle), "{e}");
        }
        let extra = body(r#"{"postcode":"28013"}"#, "firing").replace("\"receiver\"", "\"extra\":1,\"receiver\"");
        assert!(parse(extra.as_bytes(), 10).is_err());
    }

    #[test]
    fn unmappable_alerts_name_the_label() {
        let mapping = AlertmanagerMapping::default();
        let cases = [
            (r#"{"alertname":"X","service":"fibre","severity":"critical"}"#, "alerts[0].labels.postcode"),
            (r#"{"alertname":"X","postcode":"28013","severity":"critical"}"#, "alerts[0].labels.service"),
            (
                r#"{"alertname":"X","postcode":"28013","service":"gas","severity":"critical"}"#,
                "alerts[0].labels.service",
            ),
            (
                r#"{"alertname":"X","postcode":"nope","service":"tv","severity":"critical"}"#,
                "alerts[0].labels.postcode",
            ),
            (r#"{"alertname":"X","postcode":"28013","service":"tv"}"#, "alerts[0].labels.severity"),
        ];
        for (labels, field) in cases {
            let p = parse(body(labels, "firing").as_bytes(), 10).unwrap();
            let e = map(0, &p.alerts[0], &mapping).unwrap_err();
            assert_eq!(e.field(), Some(field), "{labels}");
        }
        let p =
            parse(body(r#"{"postcode":"28013","service":"tv","severity":"info"}"#, "firing").as_bytes(), 10).unwrap();
        assert!(map(0, &p.alerts[0], &mapping).unwrap().is_none(), "below severity_min: ignored");
    }
}
