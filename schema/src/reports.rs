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

/// The counters of one bucket (a report bucket when read over spans, else a quarter hour),
/// summed over the rows the filter matched, and of one agent when grouped by agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupRow {
    pub bucket_at: i64,
    /// `Some` when grouped by agent ('' for rows with no agent).
    pub agent_id: Option<String>,
    pub counters: Counters,
}

/// A stretch of a report's buckets that all have the same width: the rollup rows with
/// `lo <= bucket_at < hi` belong to the report bucket starting at
/// `start + (bucket_at - start) / width * width`. A report's buckets make a few spans (one per
/// run of equal days, weeks or hours; a month each), so the database can sum the quarter hours
/// into report buckets with integer arithmetic and send back one row per report bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub width: i64,
    pub lo: i64,
    pub hi: i64,
}

impl Span {
    /// The spans covering `[from_ms, to_ms)` for report buckets starting at `starts` (sorted,
    /// the last bucket running to `to_ms`). Rows before the first start are given `from_ms` as
    /// their bucket (they count in the totals only).
    #[must_use]
    pub fn cover(starts: &[i64], from_ms: i64, to_ms: i64) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let first = starts.first().copied().unwrap_or(to_ms);
        if from_ms < first {
            out.push(Span { start: from_ms, width: first - from_ms, lo: from_ms, hi: first.min(to_ms) });
        }
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or_else(|| to_ms.max(start + 1));
            let width = end - start;
            match out.last_mut() {
                Some(span) if span.width == width && span.hi == start && span.start <= start => span.hi = end,
                _ => out.push(Span { start, width, lo: start, hi: end }),
            }
        }
        out.retain_mut(|span| {
            span.lo = span.lo.max(from_ms);
            span.hi = span.hi.min(to_ms);
            span.lo < span.hi
        });
        out
    }
}

/// One histogram bin's count in one 15-minute bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationRow {
    pub bucket_at: i64,
    pub measure: DurationMeasure,
    pub bin: i64,
    pub n: i64,
}

/// Time an agent spent in each presence that counts, in milliseconds (offline is not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PresenceTimes {
    pub available_ms: i64,
    pub busy_ms: i64,
    pub away_ms: i64,
}

impl PresenceTimes {
    /// `ms` spent in `presence` (nothing for offline).
    #[must_use]
    pub fn of(presence: crate::Presence, ms: i64) -> Self {
        match presence {
            crate::Presence::Available => Self { available_ms: ms, ..Self::default() },
            crate::Presence::Busy => Self { busy_ms: ms, ..Self::default() },
            crate::Presence::Away => Self { away_ms: ms, ..Self::default() },
            crate::Presence::Offline => Self::default(),
        }
    }

    /// Adds `other` to these.
    pub fn add(&mut self, other: &Self) {
        self.available_ms = self.available_ms.saturating_add(other.available_ms);
        self.busy_ms = self.busy_ms.saturating_add(other.busy_ms);
        self.away_ms = self.away_ms.saturating_add(other.away_ms);
    }

    /// Time signed in and not away (available or busy): occupancy's denominator.
    #[must_use]
    pub fn staffed_ms(&self) -> i64 {
        self.available_ms.saturating_add(self.busy_ms)
    }

    /// Whether nothing was counted.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// `[from_ms, to_ms)` cut at 15-minute boundaries: each bucket it touches with the milliseconds
/// of the interval inside it, oldest first (nothing when `to_ms <= from_ms`).
#[must_use]
pub fn split_by_bucket(from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = from_ms;
    while at < to_ms {
        let bucket = bucket_of(at);
        let end = (bucket + BUCKET_MS).min(to_ms);
        out.push((bucket, end - at));
        at = end;
    }
    out
}

/// One agent's presence times in one 15-minute bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceRow {
    pub bucket_at: i64,
    pub agent_id: String,
    pub times: PresenceTimes,
}

/// An agent's presence interval still open: its presence since `since` (ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPresence {
    pub agent_id: String,
    pub presence: crate::Presence,
    pub since: i64,
}

/// One stretch of an agent's membership of a team, in whole 15-minute buckets:
/// `[from_ms, to_ms)`, `to_ms` `None` for the current one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamStretch {
    pub agent_id: String,
    pub from_ms: i64,
    pub to_ms: Option<i64>,
}

impl TeamStretch {
    /// Whether the stretch covers the bucket starting at `bucket_at`.
    #[must_use]
    pub fn covers(&self, bucket_at: i64) -> bool {
        self.from_ms <= bucket_at && self.to_ms.is_none_or(|to| bucket_at < to)
    }
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

/// Why a conversation went from the bot to a person, as the bot report counts it: the bot's
/// four reasons (its `bot:<reason>` ticket tag), or `Other` (a ticket opened on a conversation
/// the bot had answered in without the bot deciding it: an agent or supervisor taking it over).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HandOverReason {
    AskedForHuman,
    LowConfidence,
    RepeatedFailure,
    AlwaysHuman,
    Other,
}

impl HandOverReason {
    /// Every reason, in the report's order.
    pub const ALL: [Self; 5] =
        [Self::AskedForHuman, Self::LowConfidence, Self::RepeatedFailure, Self::AlwaysHuman, Self::Other];

    /// The reported name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AskedForHuman => "asked_for_human",
            Self::LowConfidence => "low_confidence",
            Self::RepeatedFailure => "repeated_failure",
            Self::AlwaysHuman => "always_human",
            Self::Other => "other",
        }
    }

    /// The bot's reason from a ticket's tags (`bot:<reason>`), if the bot handed it over.
    #[must_use]
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        tags.into_iter().find_map(|t| match t.strip_prefix("bot:")? {
            "asked_for_human" => Some(Self::AskedForHuman),
            "low_confidence" => Some(Self::LowConfidence),
            "repeated_failure" => Some(Self::RepeatedFailure),
            "always_human" => Some(Self::AlwaysHuman),
            _ => None,
        })
    }
}

/// The bot report's counters of one rollup row, in the order of [`BotCounters::COLUMNS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BotCounters {
    /// Conversations the bot answered in (bucket: the conversation's start).
    pub conversations: i64,
    /// Bot answers (bucket: the answer's time).
    pub answers: i64,
    /// Of `conversations`, those handed over to a person (bucket: the conversation's start).
    pub handed_over: i64,
    /// Of `conversations`, those whose customer came back within 24 h (bucket: the start).
    pub returned: i64,
    /// Hand-overs by reason, in the order of [`HandOverReason::ALL`] (bucket: the hand-over).
    pub handovers: [i64; 5],
    /// Trainers' verdicts (bucket: the answer judged).
    pub verdict_right: i64,
    pub verdict_wrong: i64,
    /// Questions put in the trainers' unanswered queue (bucket: when).
    pub unanswered: i64,
}

impl BotCounters {
    /// The stored columns, in the order of [`BotCounters::values`].
    pub const COLUMNS: [&'static str; 12] = [
        "conversations",
        "answers",
        "handed_over",
        "returned",
        "handovers_asked_for_human",
        "handovers_low_confidence",
        "handovers_repeated_failure",
        "handovers_always_human",
        "handovers_other",
        "verdict_right",
        "verdict_wrong",
        "unanswered",
    ];

    /// The values, in the order of [`BotCounters::COLUMNS`].
    #[must_use]
    pub fn values(&self) -> [i64; 12] {
        let h = self.handovers;
        [
            self.conversations,
            self.answers,
            self.handed_over,
            self.returned,
            h[0],
            h[1],
            h[2],
            h[3],
            h[4],
            self.verdict_right,
            self.verdict_wrong,
            self.unanswered,
        ]
    }

    /// Built from values in the order of [`BotCounters::COLUMNS`].
    #[must_use]
    pub fn from_values(v: [i64; 12]) -> Self {
        Self {
            conversations: v[0],
            answers: v[1],
            handed_over: v[2],
            returned: v[3],
            handovers: [v[4], v[5], v[6], v[7], v[8]],
            verdict_right: v[9],
            verdict_wrong: v[10],
            unanswered: v[11],
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

    /// The hand-overs for `reason`.
    #[must_use]
    pub fn handovers_for(&self, reason: HandOverReason) -> i64 {
        self.handovers[reason as usize]
    }
}

/// The bot report's filter: bot traffic has no queue, agent or (kept) tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotFilter {
    pub channel: Option<String>,
    pub language: Option<String>,
}

/// The bot counters of one 15-minute bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotRollupRow {
    pub bucket_at: i64,
    pub counters: BotCounters,
}

/// A customer coming back this long after a bot answer (or sooner) is a return.
pub const RETURN_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// In the same conversation, a customer's message this long after the bot's last answer (or
/// later) is a return; a quicker one is the same exchange going on.
pub const SAME_CONVERSATION_GAP_MS: i64 = 30 * 60 * 1000;

/// Whether a customer's message at `at` is a return to the bot conversation whose answers were
/// at `answers` (sorted): the last answer before it is at most 24 h old and, in the same
/// conversation, at least 30 minutes old.
#[must_use]
pub fn returns(answers: &[i64], at: i64, same_conversation: bool) -> bool {
    let before = answers.partition_point(|a| *a <= at);
    let Some(last) = before.checked_sub(1).map(|i| answers[i]) else { return false };
    at - last <= RETURN_WINDOW_MS && (!same_conversation || at - last >= SAME_CONVERSATION_GAP_MS)
}

/// How many unanswered questions of a range the top topics read at most (the newest).
pub const TOP_UNANSWERED_SCAN: u32 = 5_000;

/// A question as the top unanswered topics group it: lower case, letters and digits kept,
/// everything else a single space, trimmed, at most 200 characters.
#[must_use]
pub fn normalise_question(text: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else {
            space = true;
        }
        if out.chars().count() >= 200 {
            break;
        }
    }
    out
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
    fn intervals_split_exactly_at_bucket_boundaries() {
        assert_eq!(split_by_bucket(10, 10), []);
        assert_eq!(split_by_bucket(10, 5), []);
        assert_eq!(split_by_bucket(1000, 2000), [(0, 1000)]);
        let from = BUCKET_MS - 60_000;
        let to = 3 * BUCKET_MS + 30_000;
        let parts = split_by_bucket(from, to);
        assert_eq!(parts, [(0, 60_000), (BUCKET_MS, BUCKET_MS), (2 * BUCKET_MS, BUCKET_MS), (3 * BUCKET_MS, 30_000)]);
        assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), to - from);
        assert_eq!(split_by_bucket(BUCKET_MS, 2 * BUCKET_MS), [(BUCKET_MS, BUCKET_MS)]);
        let mut t = PresenceTimes::of(crate::Presence::Busy, 5);
        t.add(&PresenceTimes::of(crate::Presence::Available, 7));
        assert!(PresenceTimes::of(crate::Presence::Offline, 9).is_zero());
        assert_eq!((t.staffed_ms(), t.away_ms), (12, 0));
        let stretch = TeamStretch { agent_id: "a".into(), from_ms: BUCKET_MS, to_ms: Some(3 * BUCKET_MS) };
        assert!(!stretch.covers(0) && stretch.covers(BUCKET_MS) && stretch.covers(2 * BUCKET_MS));
        assert!(!stretch.covers(3 * BUCKET_MS));
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

    #[test]
    fn a_return_is_within_a_day_of_the_last_answer_and_half_an_hour_in_the_same_conversation() {
        let hour = 3_600_000;
        let answers = [0, hour];
        assert!(!returns(&answers, -1, false), "before any answer");
        assert!(returns(&answers, hour + 60_000, false), "another conversation: at once");
        assert!(!returns(&answers, hour + 60_000, true), "the same exchange going on");
        assert!(returns(&answers, hour + SAME_CONVERSATION_GAP_MS, true));
        assert!(returns(&answers, hour + RETURN_WINDOW_MS, false));
        assert!(!returns(&answers, hour + RETURN_WINDOW_MS + 1, false), "more than a day after the last");
        assert!(returns(&answers, hour - 1, true), "measured from the answer before it");
    }

    #[test]
    fn bot_counters_round_trip_and_reasons_come_from_tags() {
        let mut a = BotCounters { answers: 2, handovers: [1, 0, 0, 0, 3], ..BotCounters::default() };
        assert_eq!(BotCounters::from_values(a.values()), a);
        a.add(&BotCounters { verdict_wrong: 1, handovers: [0, 2, 0, 0, 0], ..BotCounters::default() });
        assert_eq!(a.handovers_for(HandOverReason::LowConfidence), 2);
        assert_eq!(a.handovers_for(HandOverReason::Other), 3);
        assert_eq!(a.verdict_wrong, 1);
        assert_eq!(HandOverReason::from_tags(["billing", "bot:always_human"]), Some(HandOverReason::AlwaysHuman));
        assert_eq!(HandOverReason::from_tags(["bot:unheard_of", "x"]), None);
        assert_eq!(normalise_question("  Where's my   BILL?? "), "where s my bill");
        assert_eq!(normalise_question("¿Dónde está?"), "dónde está");
    }
    /// Every quarter hour in the range lands in the report bucket holding it, whatever the
    /// widths (a 23-hour day, months), and quarter hours before the first start keep `from`.
    #[test]
    fn spans_put_every_quarter_hour_in_the_bucket_holding_it() {
        const H: i64 = 3_600_000;
        let cases: Vec<(Vec<i64>, i64, i64)> = vec![
            // Days with a 23-hour day in the middle, the range starting mid-morning.
            (vec![0, 24 * H, 47 * H, 71 * H, 95 * H], 10 * H, 119 * H),
            // "Months" of 31, 28 and 31 days, the last one cut short by `to`.
            (vec![0, 744 * H, 1416 * H], 0, 1500 * H),
            // Equal hours, the range ending on a quarter hour.
            ((0..10).map(|i| i * H).collect(), 0, 9 * H + 2 * BUCKET_MS),
            // The range starts before the first bucket; one bucket only.
            (vec![5 * H], 3 * H, 8 * H),
        ];
        for (starts, from, to) in cases {
            let spans = Span::cover(&starts, from, to);
            let mut b = from;
            while b < to {
                let expected = starts.iter().rev().find(|s| **s <= b).copied().unwrap_or(from);
                let holding: Vec<&Span> = spans.iter().filter(|s| s.lo <= b && b < s.hi).collect();
                assert_eq!(holding.len(), 1, "{b} in one span of {spans:?}");
                let s = holding[0];
                assert_eq!(s.start + (b - s.start) / s.width * s.width, expected, "{b} in {spans:?}");
                b += BUCKET_MS;
            }
            assert!(spans.len() <= starts.len() + 1);
        }
        let days: Vec<i64> = (0..90).map(|i| i * 24 * H).collect();
        assert_eq!(Span::cover(&days, 0, 90 * 24 * H).len(), 1, "ninety equal days are one span");
    }
}
