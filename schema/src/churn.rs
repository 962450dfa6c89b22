//! Churn risk: a per-customer score from what the hub already stores about their contacts,
//! computed by a transparent points model (no I/O; the store gathers the [`ChurnSignals`]).
//!
//! Each factor turns one signal into points: `points_per_unit × min(units, cap)`. The score is
//! the sum of the points, at most 100; the band is `low` below 30, `medium` from 30, `high` from
//! 60. Every factor's contribution is reported, so an agent sees why a customer scored what they
//! did, and the sum of the contributions is the score (before the cap at 100). The weights are
//! set by hand from the care team's rules of thumb (docs/churn.md), not fitted; the labelled
//! demo set (`cargo run -p schema --example churn_eval`) measures them on a held-out split.
//!
//! Low CSAT is a factor: satisfaction ratings of 1 or 2 ([`LOW_CSAT_AT_MOST`]) answered in the
//! last 90 days ([`CSAT_WINDOW_DAYS`]); the hub counts them from the customer's answered surveys
//! ([`low_ratings`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ValidationError;

/// Days over which a customer's conversations count as repeated contacts.
pub const CONTACTS_WINDOW_DAYS: i64 = 7;
/// Days over which cancellation intents count.
pub const CANCELLATION_WINDOW_DAYS: i64 = 90;
/// Days over which outage notices and transfers count.
pub const RECENT_WINDOW_DAYS: i64 = 30;
/// Days over which low satisfaction ratings count.
pub const CSAT_WINDOW_DAYS: i64 = 90;
/// The highest satisfaction score (1 to 5) that counts as low.
pub const LOW_CSAT_AT_MOST: u8 = 2;
/// The score from which a customer is in the `medium` band.
pub const MEDIUM_FROM: u8 = 30;
/// The score from which a customer is in the `high` band.
pub const HIGH_FROM: u8 = 60;
/// Ticket tags that mean the customer asked to cancel or port out (the bot's always-human
/// `cancellation` category hands over with the intent `cancel_service`).
pub const CANCELLATION_TAGS: &[&str] = &["cancel_service", "cancellation", "retention"];
/// The queue that holds customers who want to leave: a ticket a person transferred to it is a
/// cancellation intent (one a routing rule sent there is not: the rule may read this score).
pub const RETENTION_QUEUE: &str = "retention";
/// Ticket tags of complaints and disputes (the bot's `complaint` and `bill_dispute` intents).
pub const COMPLAINT_TAGS: &[&str] = &["complaint", "bill_dispute"];

/// What the model reads about one customer, gathered by the store at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChurnSignals {
    /// Conversations the customer started in the last 7 days.
    pub contacts_7d: u32,
    /// In the last 90 days: tickets tagged `cancel_service`, `cancellation` or `retention` or
    /// transferred to the `retention` queue, and care requests to discontinue a service.
    pub cancellation_intents_90d: u32,
    /// Open tickets tagged `complaint` or `bill_dispute`.
    pub open_complaints: u32,
    /// Age in hours of the customer's oldest open ticket (0 with none).
    pub oldest_open_ticket_hours: u32,
    /// Distinct incidents the customer was told about (proactive outage notices) in 30 days.
    pub outage_notices_30d: u32,
    /// Transfers of the customer's tickets (to another agent or queue) in 30 days.
    pub transfers_30d: u32,
    /// Satisfaction ratings of 1 or 2 the customer gave in 90 days (absent from scores stored
    /// before the factor existed: 0).
    #[serde(default)]
    pub low_csat_90d: u32,
}

/// How many of `scores` (satisfaction scores, 1 to 5) are low: at most [`LOW_CSAT_AT_MOST`].
#[must_use]
pub fn low_ratings(scores: impl IntoIterator<Item = u8>) -> u32 {
    let n = scores.into_iter().filter(|&s| s <= LOW_CSAT_AT_MOST).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

name_enum!(
    /// One factor of the model.
    ChurnFactorKind, "factor" {
        /// More than one conversation in 7 days (each beyond the first).
        RepeatedContacts => "repeated_contacts",
        /// Asked to cancel, port out, or was sent to retention.
        CancellationIntent => "cancellation_intent",
        /// Complaints and disputes still open.
        UnresolvedComplaints => "unresolved_complaints",
        /// An open ticket waiting for days.
        AgedOpenTicket => "aged_open_ticket",
        /// Affected by outages.
        OutageExposure => "outage_exposure",
        /// Passed from agent to agent or queue to queue.
        RepeatedTransfers => "repeated_transfers",
        /// Rated the care they got 1 or 2 out of 5.
        LowCsat => "low_csat",
    }
);

name_enum!(
    /// Where a score falls.
    ChurnBand, "band" {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

impl ChurnBand {
    /// The band of `score`.
    #[must_use]
    pub const fn of(score: u8) -> Self {
        if score >= HIGH_FROM {
            Self::High
        } else if score >= MEDIUM_FROM {
            Self::Medium
        } else {
            Self::Low
        }
    }
}

/// One factor's weight: points per unit of its signal, and the units counted at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Weight {
    pub factor: ChurnFactorKind,
    pub points_per_unit: u32,
    pub cap_units: u32,
}

/// The model: every factor's weight (docs/churn.md explains each).
pub const WEIGHTS: [Weight; 7] = [
    Weight { factor: ChurnFactorKind::CancellationIntent, points_per_unit: 40, cap_units: 2 },
    Weight { factor: ChurnFactorKind::UnresolvedComplaints, points_per_unit: 20, cap_units: 2 },
    Weight { factor: ChurnFactorKind::RepeatedContacts, points_per_unit: 8, cap_units: 4 },
    Weight { factor: ChurnFactorKind::AgedOpenTicket, points_per_unit: 4, cap_units: 5 },
    Weight { factor: ChurnFactorKind::OutageExposure, points_per_unit: 10, cap_units: 2 },
    Weight { factor: ChurnFactorKind::RepeatedTransfers, points_per_unit: 5, cap_units: 4 },
    Weight { factor: ChurnFactorKind::LowCsat, points_per_unit: 15, cap_units: 2 },
];

impl ChurnSignals {
    /// The units of `factor` in these signals (before the cap).
    #[must_use]
    pub const fn units(&self, factor: ChurnFactorKind) -> u32 {
        match factor {
            ChurnFactorKind::RepeatedContacts => self.contacts_7d.saturating_sub(1),
            ChurnFactorKind::CancellationIntent => self.cancellation_intents_90d,
            ChurnFactorKind::UnresolvedComplaints => self.open_complaints,
            ChurnFactorKind::AgedOpenTicket => self.oldest_open_ticket_hours / 24,
            ChurnFactorKind::OutageExposure => self.outage_notices_30d,
            ChurnFactorKind::RepeatedTransfers => self.transfers_30d,
            ChurnFactorKind::LowCsat => self.low_csat_90d,
        }
    }
}

/// One factor's part of a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChurnFactor {
    pub factor: ChurnFactorKind,
    /// The units counted (after the cap): contacts beyond the first, intents, open complaints,
    /// whole days, incidents, transfers.
    pub units: u32,
    /// The points it adds to the score.
    pub points: u32,
}

/// A score with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnAssessment {
    /// 0 to 100.
    pub score: u8,
    pub band: ChurnBand,
    /// The factors that add points, largest first (ties in the order of [`WEIGHTS`]).
    pub factors: Vec<ChurnFactor>,
}

/// Scores `signals`.
#[must_use]
pub fn assess(signals: &ChurnSignals) -> ChurnAssessment {
    let mut factors: Vec<ChurnFactor> = WEIGHTS
        .iter()
        .map(|w| {
            let units = signals.units(w.factor).min(w.cap_units);
            ChurnFactor { factor: w.factor, units, points: units * w.points_per_unit }
        })
        .filter(|f| f.points > 0)
        .collect();
    // Stable: equal contributions keep the order of the weights.
    factors.sort_by_key(|f| std::cmp::Reverse(f.points));
    let total: u32 = factors.iter().map(|f| f.points).sum();
    let score = u8::try_from(total.min(100)).unwrap_or(100);
    ChurnAssessment { score, band: ChurnBand::of(score), factors }
}

/// A customer's stored score: the assessment, the signals it came from, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurnRisk {
    pub customer_id: crate::CustomerId,
    pub assessment: ChurnAssessment,
    pub signals: ChurnSignals,
    pub computed_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(a: &ChurnAssessment, f: ChurnFactorKind) -> u32 {
        a.factors.iter().find(|x| x.factor == f).map_or(0, |x| x.points)
    }

    #[test]
    fn a_quiet_customer_scores_zero_with_no_factors() {
        let a = assess(&ChurnSignals { contacts_7d: 1, ..ChurnSignals::default() });
        assert_eq!(a, ChurnAssessment { score: 0, band: ChurnBand::Low, factors: vec![] });
    }

    #[test]
    fn each_factor_adds_points_per_unit_up_to_its_cap() {
        let s = ChurnSignals { contacts_7d: 3, ..ChurnSignals::default() };
        assert_eq!(points(&assess(&s), ChurnFactorKind::RepeatedContacts), 16);
        let s = ChurnSignals { contacts_7d: 50, ..ChurnSignals::default() };
        let a = assess(&s);
        assert_eq!(a.factors, [ChurnFactor { factor: ChurnFactorKind::RepeatedContacts, units: 4, points: 32 }]);
        assert_eq!(a.score, 32);
        let s = ChurnSignals { oldest_open_ticket_hours: 47, ..ChurnSignals::default() };
        assert_eq!(points(&assess(&s), ChurnFactorKind::AgedOpenTicket), 4, "whole days only");
        let s = ChurnSignals { oldest_open_ticket_hours: u32::MAX, transfers_30d: u32::MAX, ..Default::default() };
        let a = assess(&s);
        assert_eq!(
            (points(&a, ChurnFactorKind::AgedOpenTicket), points(&a, ChurnFactorKind::RepeatedTransfers)),
            (20, 20)
        );
    }

    #[test]
    fn contributions_sum_to_the_score_and_are_sorted_largest_first() {
        let s = ChurnSignals {
            contacts_7d: 2,
            cancellation_intents_90d: 1,
            open_complaints: 0,
            oldest_open_ticket_hours: 24,
            outage_notices_30d: 1,
            transfers_30d: 2,
            low_csat_90d: 0,
        };
        let a = assess(&s);
        let kinds: Vec<_> = a.factors.iter().map(|f| f.factor).collect();
        assert_eq!(
            kinds,
            [
                ChurnFactorKind::CancellationIntent,
                ChurnFactorKind::OutageExposure,
                ChurnFactorKind::RepeatedTransfers,
                ChurnFactorKind::RepeatedContacts,
                ChurnFactorKind::AgedOpenTicket,
            ]
        );
        assert_eq!(u32::from(a.score), a.factors.iter().map(|f| f.points).sum::<u32>());
        assert_eq!((a.score, a.band), (72, ChurnBand::High));
    }

    #[test]
    fn the_score_is_capped_at_100() {
        let s = ChurnSignals {
            contacts_7d: 9,
            cancellation_intents_90d: 9,
            open_complaints: 9,
            oldest_open_ticket_hours: 999,
            outage_notices_30d: 9,
            transfers_30d: 9,
            low_csat_90d: 9,
        };
        let a = assess(&s);
        assert_eq!((a.score, a.band), (100, ChurnBand::High));
        assert_eq!(a.factors.len(), WEIGHTS.len());
    }

    #[test]
    fn low_ratings_add_fifteen_points_each_up_to_two() {
        assert_eq!(low_ratings([1, 2, 3, 4, 5]), 2);
        assert_eq!(low_ratings([]), 0);
        assert_eq!(low_ratings([3, 5]), 0, "3 is not low");
        let one = ChurnSignals { low_csat_90d: 1, ..ChurnSignals::default() };
        let a = assess(&one);
        assert_eq!(a.factors, [ChurnFactor { factor: ChurnFactorKind::LowCsat, units: 1, points: 15 }]);
        assert_eq!(a.band, ChurnBand::Low, "one bad rating alone is not a risk band");
        let many = ChurnSignals { low_csat_90d: 7, ..ChurnSignals::default() };
        assert_eq!(assess(&many).score, 30, "capped at two ratings: medium");
        // With an open complaint, one bad rating makes medium.
        let both = ChurnSignals { open_complaints: 1, ..one };
        assert_eq!((assess(&both).score, assess(&both).band), (35, ChurnBand::Medium));
        // Scores stored before the factor existed still read (no `low_csat_90d`: 0).
        let old: ChurnSignals = serde_json::from_str(
            r#"{"contacts_7d":1,"cancellation_intents_90d":0,"open_complaints":0,"oldest_open_ticket_hours":0,"outage_notices_30d":0,"transfers_30d":0}"#,
        )
        .unwrap();
        assert_eq!(old.low_csat_90d, 0);
    }

    #[test]
    fn bands_have_documented_edges() {
        assert_eq!(ChurnBand::of(0), ChurnBand::Low);
        assert_eq!(ChurnBand::of(29), ChurnBand::Low);
        assert_eq!(ChurnBand::of(30), ChurnBand::Medium);
        assert_eq!(ChurnBand::of(59), ChurnBand::Medium);
        assert_eq!(ChurnBand::of(60), ChurnBand::High);
        assert_eq!(ChurnBand::of(100), ChurnBand::High);
        // One cancellation intent alone is medium; with an open complaint, high.
        let one = ChurnSignals { cancellation_intents_90d: 1, ..ChurnSignals::default() };
        assert_eq!(assess(&one).band, ChurnBand::Medium);
        let two = ChurnSignals { open_complaints: 1, ..one };
        assert_eq!(assess(&two).band, ChurnBand::High);
    }

    #[test]
    fn weights_name_every_factor_once() {
        for kind in ChurnFactorKind::ALL {
            assert_eq!(WEIGHTS.iter().filter(|w| w.factor == *kind).count(), 1, "{kind}");
        }
        assert_eq!(WEIGHTS.len(), ChurnFactorKind::ALL.len());
    }
}
