//! Reports' rollups: the counters kept per 15-minute bucket and dimension, and the log-scale
//! histograms of durations whose medians and 90th percentiles the reports give.
//!
//! The store adds to these in the same transaction as the write they count
//! (`store/reports.rs`); the hub folds the 15-minute buckets into hours, days or weeks of the
//! operator's time zone. docs/reports.md defines each measure.

/// The width of a rollup bucket: 15 minutes. Every UTC offset in use today is a whole number of
/// quarter hours (+05:45, +08:45, +12:45 included), so every hour, day and week of any IANA
/// zone starts on a bucket boundary.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;

/// The start of the 15-minute bucket holding `at_ms`.
#[must_use]
pub fn bucket_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(BUCKET_MS) * BUCKET_MS
}

/// Histogram bins per doubling of a duration: each bin spans a factor of 2^(1/4) ≈ 1.19, so the
/// value a bin stands for (its bounds' geometric mean) is within 2^(1/8) − 1 ≈ 9.1 % of any
/// duration counted in it.
pub const BINS_PER_DOUBLING: f64 = 4.0;
/// Durations under one second share bin 0.
const BIN_BASE_MS: f64 = 1000.0;
/// The last bin: durations from about 2^(126/4) s (≈ 95 years) up share it.
pub const MAX_BIN: i64 = 126;

/// The histogram bin of a duration in milliseconds: 0 below one second, then
/// `1 + floor(4 · log2(ms / 1000))`.
#[must_use]
pub fn duration_bin(ms: i64) -> i64 {
    if ms < 1000 {
        return 0;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let bin = 1 + ((ms as f64 / BIN_BASE_MS).log2() * BINS_PER_DOUBLING).floor() as i64;
    bin.clamp(1, MAX_BIN)
}

/// The duration (ms) that bin `bin` stands for: the geometric mean of its bounds (half a second
/// for bin 0).
#[must_use]
pub fn bin_value_ms(bin: i64) -> f64 {
    if bin <= 0 {
        return 500.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let lower = BIN_BASE_MS * ((bin - 1) as f64 / BINS_PER_DOUBLING).exp2();
    lower * (0.5 / BINS_PER_DOUBLING).exp2()
}

/// The `q` quantile (0 < q ≤ 1) of a histogram given as `(bin, count)` pairs in any order: the
/// value of the bin holding the observation of rank ⌈q·n⌉. `None` when empty.
#[must_use]
pub fn quantile_ms(bins: &std::collections::BTreeMap<i64, i64>, q: f64) -> Option<f64> {
    let total: i64 = bins.values().sum();
    if total <= 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (bin, n) in bins {
        seen += n;
        if seen >= rank {
            return Some(bin_value_ms(*bin));
        }
    }
    None
}

/// The duration measures kept as histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DurationMeasure {
    /// From the ticket's creation to the first agent reply (or call answered).
    FirstResponse,
    /// From the ticket's opening (creation or reopening) to its resolution.
    Resolution,
}

impl DurationMeasure {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::Resolution => "resolution",
        }
    }
}

/// The counters of one rollup row, in the order of [`Counters::COLUMNS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Conversations started (any channel, bot or not).
    pub conversations: i64,
    /// Tickets opened (hand-overs to people).
    pub new_tickets: i64,
    pub resolved: i64,
    pub reopened: i64,
    /// Tickets closed before any agent response (a caller hanging up in the queue).
    pub abandoned: i64,
    pub transfers: i64,
    pub first_responses: i64,
    pub first_response_ms: i64,
    /// First responses on tickets that had a first-response target.
    pub sla_targeted: i64,
    /// Of those, the ones made by the target.
    pub sla_met: i64,
    pub resolution_ms: i64,
    /// Agents' ownership of a ticket that ended (resolved, closed, transferred, requeued).
    pub handled: i64,
    /// Active agent time (assigned, not waiting for the customer).
    pub handle_ms: i64,
}

impl Counters {
    /// The stored columns, in the order of [`Counters::values`].
    pub const COLUMNS: [&'static str; 13] = [
        "conversations",
        "new_tickets",
        "resolved",
        "reopened",
        "abandoned",
        "transfers",
        "first_responses",
        "first_response_ms",
        "sla_targeted",
        "sla_met",
        "resolution_ms",
        "handled",
        "handle_ms",
    ];

    /// The values, in the order of [`Counters::COLUMNS`].
    #[must_use]
    pub fn values(&self) -> [i64; 13] {
        [
            self.conversations,
            self.new_tickets,
            self.resolved,
            self.reopened,
            self.abandoned,
            self.transfers,
            self.first_responses,
            self.first_response_ms,
            self.sla_targeted,
            self.sla_met,
            self.resolution_ms,
            self.handled,
            self.handle_ms,
        ]
    }

    /// Built from values in the order of [`Counters::COLUMNS`].
    #[must_use]
    pub fn from_values(v: [i64; 13]) -> Self {
        Self {
            conversations: v[0],
            new_tickets: v[1],
            resolved: v[2],
            reopened: v[3],
            abandoned: v[4],
            transfers: v[5],
            first_responses: v[6],
            first_response_ms: v[7],
            sla_targeted: v[8],
            sla_met: v[9],
            resolution_ms: v[10],
            handled: v[11],
            handle_ms: v[12],
        }
    }

    /// Adds `other` to these.
    pub fn add(&mut self, other: &Self) {
        let mut v = self.values();
        for (a, b) in v.iter_mut().zip(other.values()) {
            *a = a.saturating_add(b);
        }
        *self = Self::from_values(v);
    }

    /// Whether every counter is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|v| *v == 0)
    }
}

/// Which rows a report reads; an empty filter matches every row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub channel: Option<String>,
    pub queue: Option<String>,
    pub agent_id: Option<String>,
    pub language: Option<String>,
    pub tier: Option<String>,
}

/// The counters of one 15-minute bucket (summed over the rows the filter matched), and of one
/// agent when the rows were grouped by agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupRow {
    pub bucket_at: i64,
    /// `Some` when grouped by agent ('' for rows with no agent).
    pub agent_id: Option<String>,
    pub counters: Counters,
}

/// One histogram bin's count in one 15-minute bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationRow {
    pub bucket_at: i64,
    pub measure: DurationMeasure,
    pub bin: i64,
    pub n: i64,
}

/// One handled conversation for the reports benchmark's bulk loader
/// ([`crate::Store::bench_load`]): created at `at_ms` and handed over at once (queued), taken by
/// `agent` `assigned_ms` later, first answered by them `first_response_ms` after creation, and
/// resolved by them `resolution_ms` after creation (never waiting for the customer, so the
/// handle time is `resolution_ms - assigned_ms`). Offsets: `0 <= assigned_ms <=
/// first_response_ms <= resolution_ms`. A call's first response is the agent taking it.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct BenchConversation {
    pub at_ms: i64,
    pub channel: crate::Channel,
    pub language: crate::Language,
    pub tier: crate::CustomerTier,
    pub queue: String,
    pub agent: crate::AgentId,
    /// Messages, alternately the customer's and the agent's (the second is the first response).
    pub messages: u32,
    pub assigned_ms: i64,
    pub first_response_ms: i64,
    pub resolution_ms: i64,
    pub first_response_target_ms: Option<i64>,
}

impl BenchConversation {
    /// When the ticket got its first response, after creation: the agent's first message, or,
    /// for a call, the agent taking it (docs/reports.md).
    #[must_use]
    pub fn first_response_offset_ms(&self) -> i64 {
        if self.channel == crate::Channel::Voice { self.assigned_ms } else { self.first_response_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_grow_by_a_quarter_doubling_and_values_stay_within_the_bound() {
        assert_eq!(duration_bin(0), 0);
        assert_eq!(duration_bin(999), 0);
        assert_eq!(duration_bin(1000), 1);
        assert_eq!(duration_bin(2000), 5);
        assert_eq!(duration_bin(4000), 9);
        assert_eq!(duration_bin(i64::MAX), MAX_BIN);
        let bound = (0.5 / BINS_PER_DOUBLING).exp2() - 1.0 + 1e-9;
        for ms in [1000_i64, 1500, 59_999, 60_000, 3_600_000, 86_400_000, 2_592_000_000] {
            #[allow(clippy::cast_precision_loss)]
            let err = (bin_value_ms(duration_bin(ms)) - ms as f64).abs() / ms as f64;
            assert!(err <= bound, "{ms}: {err}");
        }
    }

    #[test]
    fn quantiles_take_the_bin_of_the_ranked_observation() {
        let mut bins = std::collections::BTreeMap::new();
        assert_eq!(quantile_ms(&bins, 0.5), None);
        bins.insert(duration_bin(10_000), 9);
        bins.insert(duration_bin(100_000), 1);
        assert_eq!(quantile_ms(&bins, 0.5), Some(bin_value_ms(duration_bin(10_000))));
        assert_eq!(quantile_ms(&bins, 0.9), Some(bin_value_ms(duration_bin(10_000))));
        assert_eq!(quantile_ms(&bins, 0.91), Some(bin_value_ms(duration_bin(100_000))));
    }

    #[test]
    fn buckets_are_quarter_hours() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(BUCKET_MS - 1), 0);
        assert_eq!(bucket_of(BUCKET_MS), BUCKET_MS);
        assert_eq!(bucket_of(-1), -BUCKET_MS);
    }

    #[test]
    fn counters_round_trip_and_add() {
        let mut a = Counters { resolved: 2, handle_ms: 5, ..Counters::default() };
        assert_eq!(Counters::from_values(a.values()), a);
        a.add(&Counters { resolved: 1, conversations: 3, ..Counters::default() });
        assert_eq!((a.resolved, a.conversations, a.handle_ms), (3, 3, 5));
        assert!(!a.is_zero());
        assert!(Counters::default().is_zero());
    }
}
