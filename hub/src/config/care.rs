//! `[care]`: the customer-care workflows' reason codes (bill adjustments, discontinued services)
//! with their labels in each language, and how much each role may adjust a bill by, per currency,
//! before a supervisor must approve.

use std::collections::BTreeMap;

use bss::{Currency, Money};
use schema::{Language, Role};
use serde::{Deserialize, Serialize};

/// The most reason codes of one list.
pub const MAX_REASONS: usize = 50;
/// The longest reason code, in bytes.
pub const MAX_REASON_CODE: usize = 40;
/// The longest label, in characters.
pub const MAX_REASON_LABEL: usize = 100;

/// A reason code and its label per language (`en` at least; a missing language shows `en`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonCode {
    /// 1 to 40 of `a-z`, `0-9`, `_`: what is stored, reported and sent to the billing system.
    pub code: String,
    /// Language (`en`, `es`, `pt`) → label.
    pub labels: BTreeMap<String, String>,
}

impl ReasonCode {
    fn new(code: &str, en: &str, es: &str, pt: &str) -> Self {
        let labels = [("en", en), ("es", es), ("pt", pt)].into_iter().map(|(l, t)| (l.to_owned(), t.to_owned()));
        Self { code: code.to_owned(), labels: labels.collect() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CareConfig {
    /// The reasons an agent may give for a bill adjustment.
    pub adjustment_reasons: Vec<ReasonCode>,
    /// The reasons an agent may record for a discontinued service.
    pub discontinue_reasons: Vec<ReasonCode>,
    /// Role (`agent`, `supervisor`, `admin`) → currency (ISO 4217) → the largest adjustment that
    /// role applies without approval, as a decimal text (`"50.00"`). A caller's limit is the
    /// largest of their roles'; a currency with no limit for any of them needs approval for any
    /// amount.
    pub adjustment_limits: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for CareConfig {
    fn default() -> Self {
        let limit = |amount: &str| BTreeMap::from([("EUR".to_owned(), amount.to_owned())]);
        Self {
            adjustment_reasons: vec![
                ReasonCode::new("billing_error", "Billing error", "Error de facturación", "Erro de faturação"),
                ReasonCode::new(
                    "service_outage",
                    "Service outage",
                    "Interrupción del servicio",
                    "Interrupção do serviço",
                ),
                ReasonCode::new("goodwill", "Goodwill gesture", "Gesto comercial", "Gesto comercial"),
                ReasonCode::new(
                    "roaming_dispute",
                    "Disputed roaming charge",
                    "Cargo de itinerancia reclamado",
                    "Cobrança de roaming contestada",
                ),
            ],
            discontinue_reasons: vec![
                ReasonCode::new("price", "Price", "Precio", "Preço"),
                ReasonCode::new("service_quality", "Service quality", "Calidad del servicio", "Qualidade do serviço"),
                ReasonCode::new("moving", "Moving home", "Mudanza", "Mudança de casa"),
                ReasonCode::new(
                    "competitor_offer",
                    "A competitor's offer",
                    "Oferta de la competencia",
                    "Oferta da concorrência",
                ),
                ReasonCode::new("no_longer_needed", "No longer needed", "Ya no lo necesita", "Já não precisa"),
            ],
            adjustment_limits: BTreeMap::from([
                ("agent".to_owned(), limit("50.00")),
                ("supervisor".to_owned(), limit("500.00")),
            ]),
        }
    }
}

/// The adjustment limits, parsed: role → currency → largest amount without approval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdjustmentLimits(BTreeMap<Role, BTreeMap<Currency, Money>>);

impl AdjustmentLimits {
    /// The largest amount in `currency` that someone with `roles` adjusts without approval
    /// (`None`: every adjustment in that currency needs approval).
    #[must_use]
    pub fn limit(&self, roles: &[Role], currency: Currency) -> Option<Money> {
        roles.iter().filter_map(|r| self.0.get(r)?.get(&currency).copied()).max_by_key(|m| m.minor)
    }
}

fn check_reasons(list: &[ReasonCode], key: &str) -> Result<(), String> {
    if list.is_empty() || list.len() > MAX_REASONS {
        return Err(format!("care.{key} must list 1 to {MAX_REASONS} reasons"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for reason in list {
        let code = &reason.code;
        let ok = !code.is_empty()
            && code.len() <= MAX_REASON_CODE
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(format!("care.{key}: {code:?} is not 1 to {MAX_REASON_CODE} of a-z, 0-9, _"));
        }
        if !seen.insert(code.as_str()) {
            return Err(format!("care.{key}: {code:?} is listed twice"));
        }
        if !reason.labels.contains_key("en") {
            return Err(format!("care.{key}: {code:?} needs an `en` label"));
        }
        for (lang, label) in &reason.labels {
            if lang.parse::<Language>().is_err() {
                return Err(format!("care.{key}: {code:?} has a label in {lang:?}, not en, es or pt"));
            }
            let chars = label.trim().chars().count();
            if chars == 0 || chars > MAX_REASON_LABEL || label.chars().any(char::is_control) {
                return Err(format!("care.{key}: {code:?}'s {lang} label must be 1 to {MAX_REASON_LABEL} characters"));
            }
        }
    }
    Ok(())
}

impl CareConfig {
    /// The limits, parsed.
    ///
    /// # Errors
    /// An unknown role or currency, or an amount that is not a non-negative decimal.
    pub fn limits(&self) -> Result<AdjustmentLimits, String> {
        let mut out = BTreeMap::new();
        for (role, amounts) in &self.adjustment_limits {
            let parsed_role: Role =
                role.parse().map_err(|_| format!("care.adjustment_limits: {role:?} is not a role"))?;
            let mut per_currency = BTreeMap::new();
            for (code, amount) in amounts {
                let currency = Currency::parse(code)
                    .map_err(|_| format!("care.adjustment_limits.{role}: {code:?} is not a currency (like EUR)"))?;
                let money = Money::parse_decimal(amount, currency)
                    .ok()
                    .filter(|m| m.minor >= 0)
                    .ok_or_else(|| format!("care.adjustment_limits.{role}.{code}: {amount:?} is not an amount"))?;
                per_currency.insert(currency, money);
            }
            out.insert(parsed_role, per_currency);
        }
        Ok(AdjustmentLimits(out))
    }

    /// Values that are well typed but out of range.
    ///
    /// # Errors
    /// The first problem, naming its key.
    pub fn check(&self) -> Result<(), String> {
        check_reasons(&self.adjustment_reasons, "adjustment_reasons")?;
        check_reasons(&self.discontinue_reasons, "discontinue_reasons")?;
        self.limits().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_check_and_limits_take_the_largest_role() {
        let config = CareConfig::default();
        config.check().unwrap();
        let limits = config.limits().unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(limits.limit(&[Role::Agent], eur).map(|m| m.minor), Some(5_000));
        assert_eq!(limits.limit(&[Role::Agent, Role::Supervisor], eur).map(|m| m.minor), Some(50_000));
        assert_eq!(limits.limit(&[Role::Agent], Currency::parse("USD").unwrap()), None);
        assert_eq!(limits.limit(&[Role::Auditor], eur), None);
    }

    #[test]
    fn bad_lists_and_limits_are_refused() {
        let mut c = CareConfig::default();
        c.adjustment_reasons.push(c.adjustment_reasons[0].clone());
        assert!(c.check().unwrap_err().contains("twice"));
        let mut c = CareConfig::default();
        c.discontinue_reasons[0].code = "Price!".into();
        assert!(c.check().is_err());
        let mut c = CareConfig::default();
        c.discontinue_reasons[0].labels.remove("en");
        assert!(c.check().unwrap_err().contains("`en`"));
        for (role, cur, amount) in
            [("root", "EUR", "1"), ("agent", "eur", "1"), ("agent", "EUR", "-1"), ("agent", "EUR", "x")]
        {
            let limits = BTreeMap::from([(role.into(), BTreeMap::from([(cur.into(), amount.into())]))]);
            let c = CareConfig { adjustment_limits: limits, ..CareConfig::default() };
            assert!(c.check().is_err(), "{role} {cur} {amount}");
        }
    }
}
