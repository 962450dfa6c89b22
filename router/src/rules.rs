//! Supervisor routing rules as data: which queue, skills, priority and escalation chain a
//! conversation gets.
//!
//! Rules are checked in order; the first whose conditions all hold wins, else the fallback
//! target applies. [`RoutingRules::validate`] reports every problem at once, each naming the
//! path of the field at fault (`rules[2].then.skills[0].skill`).

use std::collections::{BTreeMap, BTreeSet};

use schema::{Channel, CustomerTier, Language, Priority, QueueName, SkillLevel, SkillName};
use serde::{Deserialize, Serialize};

use crate::model::{EscalationStep, Millis, SkillRequirement};

/// Most rules a rule set may hold.
pub const MAX_RULES: usize = 1_000;
/// Longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 100;
/// Most values a rule's `tags_any` or `text_contains` may hold.
pub const MAX_RULE_VALUES: usize = 50;
/// Longest value of a rule's `tags_any` or `text_contains`, in characters.
pub const MAX_RULE_VALUE_CHARS: usize = 100;

/// A complete rule set: the skill catalog, the queues, the ordered rules and the fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingRules {
    /// The skill catalog: every skill a target may require.
    pub skills: BTreeSet<SkillName>,
    /// The queues targets may name.
    pub queues: Vec<QueueDef>,
    /// Rules, checked in order: the first match wins.
    pub rules: Vec<Rule>,
    /// The target when no rule matches.
    pub fallback: Target,
}

/// A queue and its first-response target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueDef {
    /// The queue's name, unique in the rule set.
    pub name: QueueName,
    /// First-response target in seconds, if any.
    #[serde(default)]
    pub first_response_secs: Option<u32>,
}

/// One rule: when the conditions hold, route to the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// A unique, non-blank name of at most 100 characters.
    pub name: String,
    /// What must hold for the rule to apply.
    pub when: Conditions,
    /// Where matching conversations go.
    pub then: Target,
}

/// Conditions of a rule. Every present condition must hold (AND); within a list, any value
/// matches (OR); an empty list or `None` matches anything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conditions {
    /// The conversation's channel is one of these.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// The customer's language is one of these.
    #[serde(default)]
    pub languages: Vec<Language>,
    /// The customer's tier is one of these.
    #[serde(default)]
    pub tiers: Vec<CustomerTier>,
    /// The conversation has at least one of these tags (compared ignoring ASCII case).
    #[serde(default)]
    pub tags_any: Vec<String>,
    /// The text contains at least one of these, ignoring case.
    #[serde(default)]
    pub text_contains: Vec<String>,
    /// The time of day (UTC) is within these hours.
    #[serde(default)]
    pub hours: Option<Hours>,
    /// The customer's churn-risk score (0 to 100, `schema::churn`) is at least this; a sample
    /// without a score does not match. 60 is where the `high` band starts.
    #[serde(default)]
    pub churn_risk_at_least: Option<u8>,
}

/// A daily time window in UTC, `"HH:MM"`, from inclusive to exclusive. `from` later than `to`
/// wraps past midnight (`22:00`–`06:00`); `from == to` is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hours {
    /// Start, `"HH:MM"`, inclusive.
    pub from: String,
    /// End, `"HH:MM"`, exclusive.
    pub to: String,
}

/// Where a conversation is routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Target {
    /// The queue it waits in.
    pub queue: QueueName,
    /// Skills an agent needs, each at a level or above.
    #[serde(default)]
    pub skills: Vec<SkillRequirement>,
    /// Its priority (default 3).
    #[serde(default)]
    pub priority: Priority,
    /// Escalation steps, ordered by strictly increasing `after_secs`.
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
}

/// What the classifier looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The conversation's channel.
    pub channel: Channel,
    /// The customer's language.
    pub language: Language,
    /// The customer's tier.
    pub tier: CustomerTier,
    /// The conversation's tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The text to search (e.g. the first message).
    #[serde(default)]
    pub text: String,
    /// When, for `hours`.
    pub at: Millis,
    /// The customer's churn-risk score (0 to 100), for `churn_risk_at_least`; `None` when not
    /// known (a dry run over history, which has no score of the time).
    #[serde(default)]
    pub churn_risk: Option<u8>,
}

/// The classifier's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// The matching rule's name; `None` for the fallback.
    pub rule: Option<String>,
    /// Where to route.
    pub target: Target,
}

/// One problem in a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("{field}: {message}")]
pub struct RuleError {
    /// The path of the field at fault, e.g. `rules[2].then.skills[0].skill`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(errors: &mut Vec<RuleError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(RuleError { field: field.into(), message: message.into() });
}

/// Parses `"HH:MM"` into minutes since midnight.
fn parse_hhmm(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
        return None;
    }
    let h = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let m = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Hours {
    /// Whether the minute of the day of `at` (UTC) is in the window. An invalid window
    /// matches nothing.
    #[must_use]
    pub fn contains(&self, at: Millis) -> bool {
        let (Some(from), Some(to)) = (parse_hhmm(&self.from), parse_hhmm(&self.to)) else {
            return false;
        };
        let minute = u32::try_from(at.rem_euclid(86_400_000) / 60_000).unwrap_or(0);
        match from.cmp(&to) {
            std::cmp::Ordering::Less => from <= minute && minute < to,
            std::cmp::Ordering::Greater => minute >= from || minute < to,
            std::cmp::Ordering::Equal => false,
        }
    }
}

/// A rule's conditions with their needles normalised once: `tags_any` trimmed and in ASCII lower
/// case, `text_contains` in lower case.
#[derive(Debug)]
struct PreparedConditions<'a> {
    when: &'a Conditions,
    tags: Vec<String>,
    texts: Vec<String>,
}

impl<'a> PreparedConditions<'a> {
    fn new(when: &'a Conditions) -> Self {
        Self {
            when,
            tags: when.tags_any.iter().map(|t| t.trim().to_ascii_lowercase()).collect(),
            texts: when.text_contains.iter().map(|n| n.to_lowercase()).collect(),
        }
    }

    /// Whether every present condition holds for the sample. `tags_lower` are the sample's tags
    /// trimmed in ASCII lower case, `text_lower` its text in lower case.
    fn matches(&self, sample: &Sample, tags_lower: &[String], text_lower: &str) -> bool {
        let when = self.when;
        (when.channels.is_empty() || when.channels.contains(&sample.channel))
            && (when.languages.is_empty() || when.languages.contains(&sample.language))
            && (when.tiers.is_empty() || when.tiers.contains(&sample.tier))
            && (self.tags.is_empty() || self.tags.iter().any(|t| tags_lower.contains(t)))
            && (self.texts.is_empty() || self.texts.iter().any(|n| text_lower.contains(n.as_str())))
            && when.hours.as_ref().is_none_or(|h| h.contains(sample.at))
            && when.churn_risk_at_least.is_none_or(|min| sample.churn_risk.is_some_and(|score| score >= min))
    }
}

/// A rule set ready to classify many samples: each rule's needles are lower-cased once, not per
/// sample. Made by [`RoutingRules::classifier`].
#[derive(Debug)]
pub struct Classifier<'a> {
    rules: &'a RoutingRules,
    prepared: Vec<PreparedConditions<'a>>,
}

impl Classifier<'_> {
    /// The target for a sample: the first matching rule's, else the fallback.
    #[must_use]
    pub fn classify(&self, sample: &Sample) -> Classification {
        let text_lower = sample.text.to_lowercase();
        let tags_lower: Vec<String> = sample.tags.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
        self.rules
            .rules
            .iter()
            .zip(&self.prepared)
            .find(|(_, p)| p.matches(sample, &tags_lower, &text_lower))
            .map(|(r, _)| Classification { rule: Some(r.name.clone()), target: r.then.clone() })
            .unwrap_or_else(|| Classification { rule: None, target: self.rules.fallback.clone() })
    }
}

impl RoutingRules {
    /// The queues an agent with `skills` serves: those of each rule's target, and of the
    /// fallback, whose required skills the agent has, each at its level or above. (A target
    /// without skills is served by everyone.)
    #[must_use]
    pub fn queues_served(&self, skills: &BTreeMap<SkillName, SkillLevel>) -> BTreeSet<QueueName> {
        let meets = |t: &Target| t.skills.iter().all(|r| skills.get(&r.skill).is_some_and(|l| *l >= r.level));
        self.rules
            .iter()
            .map(|r| &r.then)
            .chain([&self.fallback])
            .filter(|t| meets(t))
            .map(|t| t.queue.clone())
            .collect()
    }

    /// Checks the rule set, reporting every problem found.
    ///
    /// # Errors
    /// The list of problems, each naming its field path.
    pub fn validate(&self) -> Result<(), Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut queues = BTreeSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            if !queues.insert(&q.name) {
                err(&mut errors, format!("queues[{i}].name"), format!("duplicate queue {:?}", q.name.as_str()));
            }
            if q.first_response_secs == Some(0) {
                err(&mut errors, format!("queues[{i}].first_response_secs"), "must be at least 1 second");
            }
        }
        if self.rules.len() > MAX_RULES {
            err(&mut errors, "rules", format!("{} rules, at most {MAX_RULES}", self.rules.len()));
        }
        let mut names = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            let name = rule.name.trim();
            if name.is_empty() {
                err(&mut errors, format!("{path}.name"), "must not be blank");
            } else if rule.name.chars().count() > MAX_RULE_NAME_CHARS {
                err(&mut errors, format!("{path}.name"), format!("longer than {MAX_RULE_NAME_CHARS} characters"));
            } else if !names.insert(name) {
                err(&mut errors, format!("{path}.name"), format!("duplicate rule name {name:?}"));
            }
            self.check_conditions(&rule.when, &format!("{path}.when"), &mut errors);
            self.check_target(&rule.then, &format!("{path}.then"), &queues, &mut errors);
        }
        self.check_target(&self.fallback, "fallback", &queues, &mut errors);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    fn check_conditions(&self, when: &Conditions, path: &str, errors: &mut Vec<RuleError>) {
        for (name, values) in [("tags_any", &when.tags_any), ("text_contains", &when.text_contains)] {
            if values.len() > MAX_RULE_VALUES {
                err(errors, format!("{path}.{name}"), format!("{} values, at most {MAX_RULE_VALUES}", values.len()));
            }
            for (j, value) in values.iter().enumerate() {
                if value.trim().is_empty() {
                    err(errors, format!("{path}.{name}[{j}]"), "must not be empty");
                } else if value.chars().count() > MAX_RULE_VALUE_CHARS {
                    err(
                        errors,
                        format!("{path}.{name}[{j}]"),
                        format!("longer than {MAX_RULE_VALUE_CHARS} characters"),
                    );
                }
            }
        }
        if let Some(min) = when.churn_risk_at_least
            && min > 100
        {
            err(errors, format!("{path}.churn_risk_at_least"), format!("{min} is not a score (0 to 100)"));
        }
        if let Some(hours) = &when.hours {
            let from = parse_hhmm(&hours.from);
            let to = parse_hhmm(&hours.to);
            if from.is_none() {
                err(errors, format!("{path}.hours.from"), format!("{:?} is not HH:MM (00:00 to 23:59)", hours.from));
            }
            if to.is_none() {
                err(errors, format!("{path}.hours.to"), format!("{:?} is not HH:MM (00:00 to 23:59)", hours.to));
            }
            if from.is_some() && from == to {
                err(errors, format!("{path}.hours.to"), "must differ from `from`");
            }
        }
    }

    fn check_target(&self, target: &Target, path: &str, queues: &BTreeSet<&QueueName>, errors: &mut Vec<RuleError>) {
        if !queues.contains(&target.queue) {
            err(errors, format!("{path}.queue"), format!("unknown queue {:?}", target.queue.as_str()));
        }
        let mut seen = BTreeSet::new();
        for (j, req) in target.skills.iter().enumerate() {
            if !self.skills.contains(&req.skill) {
                err(errors, format!("{path}.skills[{j}].skill"), format!("unknown skill {:?}", req.skill.as_str()));
            }
            if !seen.insert(&req.skill) {
                err(
                    errors,
                    format!("{path}.skills[{j}].skill"),
                    format!("skill {:?} required twice", req.skill.as_str()),
                );
            }
        }
        let mut previous: Option<u32> = None;
        let mut visited: Vec<&QueueName> = vec![&target.queue];
        for (j, step) in target.escalation.iter().enumerate() {
            let after = step.after_secs();
            if after == 0 {
                err(errors, format!("{path}.escalation[{j}].after_secs"), "must be at least 1");
            } else if previous.is_some_and(|p| after <= p) {
                err(errors, format!("{path}.escalation[{j}].after_secs"), "must be greater than the previous step's");
            }
            previous = Some(after);
            match step {
                EscalationStep::WidenSkills { by, .. } => {
                    if *by == 0 {
                        err(errors, format!("{path}.escalation[{j}].by"), "must be at least 1");
                    }
                }
                EscalationStep::Overflow { queue, .. } => {
                    if !queues.contains(queue) {
                        err(
                            errors,
                            format!("{path}.escalation[{j}].queue"),
                            format!("unknown queue {:?}", queue.as_str()),
                        );
                    }
                    let looped = visited.contains(&queue);
                    visited.push(queue);
                    if looped {
                        let chain: Vec<&str> = visited.iter().map(|q| q.as_str()).collect();
                        err(
                            errors,
                            format!("{path}.escalation[{j}].queue"),
                            format!("escalation loops: {}", chain.join(" → ")),
                        );
                    }
                }
            }
        }
    }

    /// The rule set prepared to classify many samples (needles lower-cased once).
    #[must_use]
    pub fn classifier(&self) -> Classifier<'_> {
        Classifier { rules: self, prepared: self.rules.iter().map(|r| PreparedConditions::new(&r.when)).collect() }
    }

    /// The target for a sample: the first matching rule's, else the fallback. To classify many
    /// samples, make one [`RoutingRules::classifier`].
    #[must_use]
    pub fn classify(&self, sample: &Sample) -> Classification {
        self.classifier().classify(sample)
    }

    /// Queue → first-response target in ms, for [`crate::EngineConfig::sla_ms`].
    #[must_use]
    pub fn queue_sla_ms(&self) -> BTreeMap<QueueName, Millis> {
        self.queues
            .iter()
            .filter_map(|q| q.first_response_secs.map(|s| (q.name.clone(), Millis::from(s) * 1000)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> QueueName {
        s.parse().unwrap()
    }
    fn sk(s: &str) -> SkillName {
        s.parse().unwrap()
    }
    fn req(s: &str, level: i64) -> SkillRequirement {
        SkillRequirement { skill: sk(s), level: SkillLevel::try_from(level).unwrap() }
    }
    fn target(queue: &str) -> Target {
        Target { queue: q(queue), skills: vec![], priority: Priority::default(), escalation: vec![] }
    }
    fn rule(name: &str, when: Conditions, queue: &str) -> Rule {
        Rule { name: name.into(), when, then: target(queue) }
    }
    fn base() -> RoutingRules {
        RoutingRules {
            skills: ["billing", "tech", "spanish"].into_iter().map(sk).collect(),
            queues: ["general", "support", "billing"]
                .into_iter()
                .map(|n| QueueDef { name: q(n), first_response_secs: Some(60) })
                .collect(),
            rules: vec![],
            fallback: target("general"),
        }
    }
    fn sample() -> Sample {
        Sample {
            channel: Channel::WebChat,
            language: Language::En,
            tier: CustomerTier::Standard,
            tags: vec![],
            text: String::new(),
            at: 12 * 3_600_000,
            churn_risk: None,
        }
    }
    fn fields(r: &RoutingRules) -> Vec<String> {
        r.validate().err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_good_rule_set_validates() {
        let mut r = base();
        r.rules.push(Rule {
            name: "billing".into(),
            when: Conditions { text_contains: vec!["invoice".into()], ..Conditions::default() },
            then: Target {
                queue: q("billing"),
                skills: vec![req("billing", 5), req("spanish", 3)],
                priority: Priority::try_from(4).unwrap(),
                escalation: vec![
                    EscalationStep::WidenSkills { after_secs: 60, by: 2 },
                    EscalationStep::Overflow { after_secs: 300, queue: q("general") },
                ],
            },
        });
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(r.queue_sla_ms().get(&q("billing")), Some(&60_000));
    }

    #[test]
    fn an_agent_serves_the_queues_whose_skills_they_meet() {
        let mut r = base();
        let mut billing = target("billing");
        billing.skills = vec![req("billing", 5), req("spanish", 3)];
        r.rules.push(Rule { name: "billing".into(), when: Conditions::default(), then: billing });
        let mut tech = target("support");
        tech.skills = vec![req("tech", 2)];
        r.rules.push(Rule { name: "tech".into(), when: Conditions::default(), then: tech });
        let skills = |s: &[(&str, i64)]| s.iter().map(|(n, l)| (sk(n), SkillLevel::try_from(*l).unwrap())).collect();
        let names = |set: BTreeSet<QueueName>| set.iter().map(|q| q.as_str().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(r.queues_served(&skills(&[]))), ["general"]);
        assert_eq!(names(r.queues_served(&skills(&[("billing", 5), ("spanish", 3)]))), ["billing", "general"]);
        assert_eq!(
            names(r.queues_served(&skills(&[("billing", 4), ("spanish", 9), ("tech", 2)]))),
            ["general", "support"]
        );
    }

    #[test]
    fn unknown_skill_and_duplicate_skill() {
        let mut r = base();
        let mut t = target("support");
        t.skills = vec![req("billing", 1), req("cooking", 2), req("billing", 3)];
        r.rules.push(Rule { name: "a".into(), when: Conditions::default(), then: t });
        assert_eq!(fields(&r), ["rules[0].then.skills[1].skill", "rules[0].then.skills[2].skill"]);
    }

    #[test]
    fn unknown_queues() {
        let mut r = base();
        r.fallback = target("nowhere");
        let mut t = target("support");
        t.escalation = vec![
            EscalationStep::WidenSkills { after_secs: 10, by: 1 },
            EscalationStep::Overflow { after_secs: 20, queue: q("elsewhere") },
        ];
        r.rules.push(Rule { name: "a".into(), when: Conditions::default(), then: t });
        assert_eq!(fields(&r), ["rules[0].then.escalation[1].queue", "fallback.queue"]);
    }

    #[test]
    fn duplicate_queue() {
        let mut r = base();
        r.queues.push(QueueDef { name: q("support"), first_response_secs: None });
        assert_eq!(fields(&r), ["queues[3].name"]);
    }

    #[test]
    fn rule_names() {
        let mut r = base();
        r.rules.push(rule("a", Conditions::default(), "general"));
        r.rules.push(rule("a", Conditions::default(), "general"));
        r.rules.push(rule("  ", Conditions::default(), "general"));
        r.rules.push(rule(&"x".repeat(101), Conditions::default(), "general"));
        assert_eq!(fields(&r), ["rules[1].name", "rules[2].name", "rules[3].name"]);
    }

    #[test]
    fn too_many_rules() {
        let mut r = base();
        r.rules = (0..=MAX_RULES).map(|i| rule(&format!("r{i}"), Conditions::default(), "general")).collect();
        assert_eq!(fields(&r), ["rules"]);
    }

    #[test]
    fn escalation_timing_and_widening() {
        let mut r = base();
        let mut t = target("support");
        t.escalation = vec![
            EscalationStep::WidenSkills { after_secs: 0, by: 1 },
            EscalationStep::WidenSkills { after_secs: 60, by: 0 },
            EscalationStep::WidenSkills { after_secs: 60, by: 1 },
        ];
        r.fallback = t;
        assert_eq!(
            fields(&r),
            ["fallback.escalation[0].after_secs", "fallback.escalation[1].by", "fallback.escalation[2].after_secs"]
        );
    }

    #[test]
    fn escalation_cycle_names_the_loop() {
        let mut r = base();
        let mut t = target("support");
        t.escalation = vec![
            EscalationStep::Overflow { after_secs: 60, queue: q("billing") },
            EscalationStep::Overflow { after_secs: 120, queue: q("support") },
        ];
        r.rules.push(Rule { name: "a".into(), when: Conditions::default(), then: t });
        let errors = r.validate().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "rules[0].then.escalation[1].queue");
        assert!(errors[0].message.contains("support → billing → support"), "{}", errors[0].message);
    }

    #[test]
    fn bad_hours_and_empty_entries() {
        let mut r = base();
        let hours = |from: &str, to: &str| Some(Hours { from: from.into(), to: to.into() });
        r.rules.push(rule("a", Conditions { hours: hours("24:00", "7:00"), ..Conditions::default() }, "general"));
        r.rules.push(rule("b", Conditions { hours: hours("08:00", "08:00"), ..Conditions::default() }, "general"));
        r.rules.push(rule(
            "c",
            Conditions {
                tags_any: vec!["vip".into(), String::new()],
                text_contains: vec![" ".into()],
                ..Default::default()
            },
            "general",
        ));
        assert_eq!(
            fields(&r),
            [
                "rules[0].when.hours.from",
                "rules[0].when.hours.to",
                "rules[1].when.hours.to",
                "rules[2].when.tags_any[1]",
                "rules[2].when.text_contains[0]"
            ]
        );
    }

    #[test]
    fn condition_lists_are_bounded_in_count_and_length() {
        let mut r = base();
        let many: Vec<String> = (0..=MAX_RULE_VALUES).map(|i| format!("w{i}")).collect();
        r.rules.push(rule(
            "a",
            Conditions {
                text_contains: many.clone(),
                tags_any: vec!["x".repeat(MAX_RULE_VALUE_CHARS + 1)],
                ..Default::default()
            },
            "general",
        ));
        r.rules.push(rule(
            "b",
            Conditions { tags_any: many, text_contains: vec!["é".repeat(MAX_RULE_VALUE_CHARS)], ..Default::default() },
            "general",
        ));
        assert_eq!(fields(&r), ["rules[0].when.tags_any[0]", "rules[0].when.text_contains", "rules[1].when.tags_any"]);
    }

    #[test]
    fn a_classifier_answers_as_classify_with_needles_in_any_case() {
        let mut r = base();
        r.rules.push(rule(
            "t",
            Conditions {
                text_contains: vec!["ÉCHEC".into()], tags_any: vec![" Refund ".into()], ..Default::default()
            },
            "billing",
        ));
        let c = r.classifier();
        let s = Sample { text: "un échec".into(), tags: vec!["REFUND".into()], ..sample() };
        assert_eq!(c.classify(&s), r.classify(&s));
        assert_eq!(c.classify(&s).rule.as_deref(), Some("t"));
        assert_eq!(c.classify(&Sample { text: "un échec".into(), ..sample() }).rule, None);
    }

    #[test]
    fn errors_display_their_field() {
        let e = RuleError { field: "fallback.queue".into(), message: "unknown queue".into() };
        assert_eq!(e.to_string(), "fallback.queue: unknown queue");
    }

    #[test]
    fn first_match_wins_else_fallback() {
        let mut r = base();
        r.rules.push(rule("chat", Conditions { channels: vec![Channel::WebChat], ..Default::default() }, "support"));
        r.rules.push(rule("any", Conditions::default(), "billing"));
        assert_eq!(r.classify(&sample()).rule.as_deref(), Some("chat"));
        assert_eq!(r.classify(&sample()).target.queue, q("support"));
        let email = Sample { channel: Channel::Email, ..sample() };
        assert_eq!(r.classify(&email).rule.as_deref(), Some("any"));
        r.rules.pop();
        let c = r.classify(&email);
        assert_eq!((c.rule, c.target.queue), (None, q("general")));
    }

    #[test]
    fn each_condition_kind() {
        let mut r = base();
        r.rules.push(rule("lang", Conditions { languages: vec![Language::Es], ..Default::default() }, "support"));
        r.rules.push(rule("tier", Conditions { tiers: vec![CustomerTier::Vip], ..Default::default() }, "support"));
        r.rules.push(rule("tag", Conditions { tags_any: vec!["refund".into()], ..Default::default() }, "billing"));
        r.rules.push(rule(
            "text",
            Conditions { text_contains: vec!["INVOICE".into(), "charge".into()], ..Default::default() },
            "billing",
        ));
        r.rules.push(rule(
            "both",
            Conditions { channels: vec![Channel::Email], languages: vec![Language::Pt], ..Default::default() },
            "support",
        ));
        let name = |s: Sample| r.classify(&s).rule;
        assert_eq!(name(Sample { language: Language::Es, ..sample() }).as_deref(), Some("lang"));
        assert_eq!(name(Sample { tier: CustomerTier::Vip, ..sample() }).as_deref(), Some("tier"));
        assert_eq!(name(Sample { tags: vec!["x".into(), "Refund".into()], ..sample() }).as_deref(), Some("tag"));
        assert_eq!(name(Sample { text: "My Invoice is wrong".into(), ..sample() }).as_deref(), Some("text"));
        assert_eq!(name(Sample { text: "nothing here".into(), ..sample() }), None);
        // AND: Portuguese alone is not enough.
        assert_eq!(name(Sample { language: Language::Pt, ..sample() }), None);
        assert_eq!(
            name(Sample { language: Language::Pt, channel: Channel::Email, ..sample() }).as_deref(),
            Some("both")
        );
    }

    #[test]
    fn hours_and_midnight_wrap() {
        let mut r = base();
        let hours = |from: &str, to: &str| Some(Hours { from: from.into(), to: to.into() });
        r.rules.push(rule("night", Conditions { hours: hours("22:00", "06:00"), ..Default::default() }, "support"));
        r.rules.push(rule("day", Conditions { hours: hours("09:00", "17:30"), ..Default::default() }, "billing"));
        let day = 86_400_000 * 20_000;
        let at = |h: i64, m: i64| Sample { at: day + h * 3_600_000 + m * 60_000, ..sample() };
        let name = |s: Sample| r.classify(&s).rule;
        assert_eq!(name(at(23, 0)).as_deref(), Some("night"));
        assert_eq!(name(at(2, 0)).as_deref(), Some("night"));
        assert_eq!(name(at(22, 0)).as_deref(), Some("night"));
        assert_eq!(name(at(6, 0)), None);
        assert_eq!(name(at(9, 0)).as_deref(), Some("day"));
        assert_eq!(name(at(17, 29)).as_deref(), Some("day"));
        assert_eq!(name(at(17, 30)), None);
    }

    #[test]
    fn churn_risk_at_least_needs_a_known_score_at_or_above() {
        let mut r = base();
        r.rules.push(rule("retain", Conditions { churn_risk_at_least: Some(60), ..Default::default() }, "support"));
        assert_eq!(r.validate(), Ok(()));
        let name = |s: Sample| r.classify(&s).rule;
        assert_eq!(name(Sample { churn_risk: Some(60), ..sample() }).as_deref(), Some("retain"));
        assert_eq!(name(Sample { churn_risk: Some(100), ..sample() }).as_deref(), Some("retain"));
        assert_eq!(name(Sample { churn_risk: Some(59), ..sample() }), None);
        assert_eq!(name(sample()), None, "no score: no match");
        // Zero matches every scored customer, not the unscored ones.
        r.rules[0].when.churn_risk_at_least = Some(0);
        assert_eq!(r.classify(&Sample { churn_risk: Some(0), ..sample() }).rule.as_deref(), Some("retain"));
        r.rules[0].when.churn_risk_at_least = Some(101);
        assert_eq!(fields(&r), ["rules[0].when.churn_risk_at_least"]);
        // Older rule sets, without the field, still read.
        let old: Conditions = serde_json::from_str(r#"{"tiers":["vip"]}"#).unwrap();
        assert_eq!(old.churn_risk_at_least, None);
    }

    #[test]
    fn serde_defaults_and_unknown_fields() {
        let json = r#"{"skills":["billing"],"queues":[{"name":"general"}],"rules":[
            {"name":"a","when":{"channels":["email"]},"then":{"queue":"general"}}],
            "fallback":{"queue":"general","skills":[{"skill":"billing","level":2}]}}"#;
        let r: RoutingRules = serde_json::from_str(json).unwrap();
        assert_eq!(r.rules[0].then.priority.get(), 3);
        assert_eq!(r.validate(), Ok(()));
        let bad = r#"{"queue":"general","colour":"red"}"#;
        assert!(serde_json::from_str::<Target>(bad).is_err());
    }
}
