//! SLA clocks in business time: a team's calendar (weekly hours in its IANA time zone, holidays),
//! the deadline that is `start + target` counted only in open hours and outside paused spans, and
//! a ticket's first-response and resolution clocks from what happened to it.
//!
//! Pure: no clock of its own (times come in as milliseconds since the Unix epoch, like the
//! engine's), no I/O (the time-zone database is compiled in by `jiff`).

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::Millis;

/// How far ahead a deadline is looked for: a calendar so closed that a target does not fit in
/// this many days has no deadline (the clock never runs out).
pub const HORIZON_DAYS: u32 = 5 * 366;
/// Most opening-hours lines of one calendar.
pub const MAX_HOURS: usize = 50;
/// Most holidays of one calendar.
pub const MAX_HOLIDAYS: usize = 1000;

const DAY_SECS: u32 = 86_400;

/// What is wrong with a calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?} (an IANA name such as Europe/Lisbon)")]
    TimeZone(String),
    #[error("{0:?} is not a time of day (HH:MM, 00:00 to 24:00)")]
    TimeOfDay(String),
    #[error("{0:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")]
    Weekday(String),
    #[error("{0:?} is not a date (YYYY-MM-DD)")]
    Date(String),
    #[error("opening hours from {0} to {0} are empty")]
    Empty(String),
    #[error("a line of opening hours names no day")]
    NoDays,
    #[error("at most {MAX_HOURS} lines of opening hours")]
    TooManyHours,
    #[error("at most {MAX_HOLIDAYS} holidays")]
    TooManyHolidays,
    #[error("the calendar has no opening hours")]
    NeverOpen,
}

/// One line of opening hours as supervisors write it: on `days`, from `from` to `to` local
/// time (`"09:00"`, `"24:00"` for midnight at the end). `to` at or before `from` runs overnight
/// into the next day (`"22:00"` to `"06:00"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoursDef {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}

/// A team's business hours as supervisors write them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarDef {
    /// IANA time zone, e.g. `Europe/Lisbon`.
    pub time_zone: String,
    pub hours: Vec<HoursDef>,
    /// Dates (`YYYY-MM-DD`, local) with no business hours at all.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A validated calendar: when a team works.
#[derive(Clone)]
pub struct Calendar {
    tz: TimeZone,
    /// Monday = 0: spans in seconds after that day's local midnight; an end past 86,400 runs
    /// into the next day.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<Date>,
    /// Open all the time (no calendar): every instant counts.
    always: bool,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("tz", &self.tz.iana_name())
            .field("week", &self.week)
            .field("holidays", &self.holidays.len())
            .field("always", &self.always)
            .finish()
    }
}

fn time_of_day(s: &str) -> Result<u32, CalendarError> {
    let bad = || CalendarError::TimeOfDay(s.to_owned());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

fn weekday(s: &str) -> Result<usize, CalendarError> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .ok_or_else(|| CalendarError::Weekday(s.to_owned()))
}

/// Sorts spans and merges those that touch or overlap.
fn merge(spans: &mut Vec<(i64, i64)>) {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for &(a, b) in spans.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *spans = out;
}

impl Calendar {
    /// Every instant is business time (a policy with no calendar).
    #[must_use]
    pub fn always() -> Self {
        Self { tz: TimeZone::UTC, week: Default::default(), holidays: BTreeSet::new(), always: true }
    }

    /// Checks and compiles a calendar.
    ///
    /// # Errors
    /// An unknown time zone, a bad day, time or date, too many lines, or no hours at all.
    pub fn new(def: &CalendarDef) -> Result<Self, CalendarError> {
        let tz = TimeZone::get(&def.time_zone).map_err(|_| CalendarError::TimeZone(def.time_zone.clone()))?;
        if def.hours.len() > MAX_HOURS {
            return Err(CalendarError::TooManyHours);
        }
        if def.holidays.len() > MAX_HOLIDAYS {
            return Err(CalendarError::TooManyHolidays);
        }
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for line in &def.hours {
            if line.days.is_empty() {
                return Err(CalendarError::NoDays);
            }
            let from = time_of_day(&line.from)?;
            let to = time_of_day(&line.to)?;
            if from == DAY_SECS {
                return Err(CalendarError::TimeOfDay(line.from.clone()));
            }
            // Overnight: the end is on the next day.
            let end = if to <= from { to + DAY_SECS } else { to };
            if end == from {
                return Err(CalendarError::Empty(line.from.clone()));
            }
            for day in &line.days {
                week[weekday(day)?].push((from, end));
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(CalendarError::NeverOpen);
        }
        let holidays = def
            .holidays
            .iter()
            .map(|d| d.parse::<Date>().map_err(|_| CalendarError::Date(d.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self { tz, week, holidays, always: false })
    }

    fn instant(&self, date: Date, secs: u32) -> Option<i64> {
        let (date, secs) = if secs >= DAY_SECS { (date.tomorrow().ok()?, secs - DAY_SECS) } else { (date, secs) };
        let time = Time::new(
            i8::try_from(secs / 3600).ok()?,
            i8::try_from(secs / 60 % 60).ok()?,
            i8::try_from(secs % 60).ok()?,
            0,
        )
        .ok()?;
        // A time skipped by a DST change is read as after the change (02:30 on a 02:00 → 03:00
        // night is 03:30); a time that happens twice, as the first.
        let ts = self.tz.to_ambiguous_timestamp(DateTime::from_parts(date, time)).compatible().ok()?;
        Some(ts.as_millisecond())
    }

    /// The open spans lying on local `date`, as instants, sorted and merged: that day's own
    /// hours cut at midnight and the overnight tail of the day before. None on a holiday.
    fn spans_on(&self, date: Date, out: &mut Vec<(i64, i64)>) {
        out.clear();
        if self.holidays.contains(&date) {
            return;
        }
        let Some(day_end) = self.instant(date, DAY_SECS) else { return };
        let Some(day_start) = self.instant(date, 0) else { return };
        if self.always {
            out.push((day_start, day_end));
            return;
        }
        let today = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
        for &(from, to) in &self.week[today] {
            if let Some(a) = self.instant(date, from) {
                let b = self.instant(date, to.min(DAY_SECS)).unwrap_or(day_end);
                out.push((a, b));
            }
        }
        let yesterday = (today + 6) % 7;
        for &(_, to) in &self.week[yesterday] {
            if to > DAY_SECS
                && let Some(b) = self.instant(date, to - DAY_SECS)
            {
                out.push((day_start, b));
            }
        }
        out.retain(|(a, b)| b > a);
        merge(out);
    }

    /// Walks business time forward from `start`, outside `paused`, handing each counted span to
    /// `visit` until it says stop (returns `Some`). `None` if the horizon is reached first, or a
    /// pause with no end begins.
    fn walk<T>(&self, start: Millis, paused: &[Pause], mut visit: impl FnMut(i64, i64) -> Option<T>) -> Option<T> {
        let mut pauses: Vec<(i64, i64)> =
            paused.iter().map(|p| (p.from, p.until.unwrap_or(i64::MAX))).filter(|(a, b)| b > a).collect();
        merge(&mut pauses);
        let start_ts = Timestamp::from_millisecond(start).ok()?;
        let mut date = start_ts.to_zoned(self.tz.clone()).date();
        let mut spans = Vec::new();
        let mut p = 0;
        for _ in 0..HORIZON_DAYS {
            self.spans_on(date, &mut spans);
            for &(a, b) in &spans {
                let mut a = a.max(start);
                while a < b {
                    // Skip pauses that ended before `a`.
                    while p < pauses.len() && pauses[p].1 <= a {
                        p += 1;
                    }
                    match pauses.get(p) {
                        Some(&(pa, pb)) if pa <= a => {
                            if pb == i64::MAX {
                                return None;
                            }
                            a = pb;
                        }
                        Some(&(pa, _)) if pa < b => {
                            if let Some(done) = visit(a, pa) {
                                return Some(done);
                            }
                            a = pa;
                        }
                        _ => {
                            if let Some(done) = visit(a, b) {
                                return Some(done);
                            }
                            a = b;
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The instant at which `target` ms of business time, counted from `start` and not during
    /// `paused`, have passed. `None`: never within the horizon, or a pause with no end comes
    /// first (the clock is stopped for now).
    #[must_use]
    pub fn deadline(&self, start: Millis, target: Millis, paused: &[Pause]) -> Option<Millis> {
        let mut left = target.max(0);
        if left == 0 {
            return Some(start);
        }
        self.walk(start, paused, |a, b| {
            if b - a >= left {
                Some(a + left)
            } else {
                left -= b - a;
                None
            }
        })
    }

    /// Business time between `start` and `end`, not counting `paused`.
    #[must_use]
    pub fn elapsed(&self, start: Millis, end: Millis, paused: &[Pause]) -> Millis {
        let mut total = 0;
        // Stops at `end`; an open pause also ends the count (nothing after it counts).
        let _: Option<()> = self.walk(start, paused, |a, b| {
            if a >= end {
                return Some(());
            }
            total += b.min(end) - a;
            (b >= end).then_some(())
        });
        total
    }
}

/// A span when a clock does not run (the ticket waited for the customer, or was resolved before
/// it reopened); `until: None` is still going on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    pub from: Millis,
    pub until: Option<Millis>,
}

/// Which promise a clock keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SlaTarget {
    /// Until an agent first replies.
    FirstResponse,
    /// Until the ticket is resolved.
    Resolution,
}

impl SlaTarget {
    /// The name used on the wire, in ticket events and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::Resolution => "resolution",
        }
    }

    /// Parses [`Self::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "first_response" => Some(Self::FirstResponse),
            "resolution" => Some(Self::Resolution),
            _ => None,
        }
    }
}

/// What a reopened ticket's resolution clock does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OnReopen {
    /// It starts again from the reopening, with the whole target.
    #[default]
    Restart,
    /// It goes on from where it stopped (the resolved span does not count).
    Resume,
}

/// The rules one ticket's clocks follow.
#[derive(Clone, Debug)]
pub struct ClockRules<'a> {
    pub calendar: &'a Calendar,
    pub first_response_ms: Option<Millis>,
    pub resolution_ms: Option<Millis>,
    /// Time waiting for the customer does not count.
    pub pending_excluded: bool,
    pub on_reopen: OnReopen,
    /// Warn when this share of the target has passed (1–99).
    pub warning_percent: u8,
}

/// Something that happened to a ticket that moves its clocks, in time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Happening {
    Opened(Millis),
    /// An agent replied to the customer.
    AgentReplied(Millis),
    /// The ticket began to wait for the customer.
    Pending(Millis),
    /// It stopped waiting for the customer (they wrote, or the ticket moved).
    Resumed(Millis),
    Resolved(Millis),
    Reopened(Millis),
}

impl Happening {
    fn at(self) -> Millis {
        match self {
            Self::Opened(t)
            | Self::AgentReplied(t)
            | Self::Pending(t)
            | Self::Resumed(t)
            | Self::Resolved(t)
            | Self::Reopened(t) => t,
        }
    }
}

/// One clock of a ticket as of now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    pub target: SlaTarget,
    /// The target in ms of business time.
    pub target_ms: Millis,
    pub started_at: Millis,
    /// When the target runs out: `None` while the clock is paused with no end yet, or if the
    /// calendar has no room for it within the horizon.
    pub due_at: Option<Millis>,
    /// When the warning is due (same `None` cases).
    pub warn_at: Option<Millis>,
    /// When it stopped for good (the reply, the resolution), if it did.
    pub stopped_at: Option<Millis>,
    /// The clock is paused now (waiting for the customer).
    pub paused: bool,
    /// Business time still left at `now` (negative once past).
    pub remaining_ms: Millis,
}

impl Clock {
    /// Whether the target was (or will have been, at `now`) missed.
    #[must_use]
    pub fn breached_by(&self, now: Millis) -> bool {
        match (self.due_at, self.stopped_at) {
            (Some(due), Some(stop)) => stop > due && due <= now,
            (Some(due), None) => due <= now,
            (None, _) => false,
        }
    }
}

/// Both clocks of a ticket from its history (`happenings` in time order), as of `now`.
#[must_use]
pub fn clocks(rules: &ClockRules<'_>, happenings: &[Happening], now: Millis) -> Vec<Clock> {
    let Some(opened) = happenings.iter().find_map(|h| match h {
        Happening::Opened(t) => Some(*t),
        _ => None,
    }) else {
        return Vec::new();
    };
    // Waiting for the customer, and (for the resolution clock) resolved spans.
    let mut pending: Vec<Pause> = Vec::new();
    let mut resolved: Vec<Pause> = Vec::new();
    let mut first_reply = None;
    let mut resolution_start = opened;
    let mut resolution_stop = None;
    let mut first_stop = None;
    for h in happenings {
        let at = h.at();
        match *h {
            Happening::Opened(_) => {}
            Happening::AgentReplied(_) => {
                first_reply.get_or_insert(at);
            }
            Happening::Pending(_) => {
                if pending.last().is_none_or(|p| p.until.is_some()) {
                    pending.push(Pause { from: at, until: None });
                }
            }
            Happening::Resumed(_) => close(&mut pending, at),
            Happening::Resolved(_) => {
                close(&mut pending, at);
                first_stop.get_or_insert(at);
                if resolution_stop.is_none() {
                    resolution_stop = Some(at);
                    resolved.push(Pause { from: at, until: None });
                }
            }
            Happening::Reopened(_) => {
                if resolution_stop.take().is_some() {
                    close(&mut resolved, at);
                    if rules.on_reopen == OnReopen::Restart {
                        resolution_start = at;
                        resolved.clear();
                    }
                }
            }
        }
    }
    let first_stop = match (first_reply, first_stop) {
        (Some(r), Some(s)) => Some(r.min(s)),
        (r, s) => r.or(s),
    };
    let pauses = if rules.pending_excluded { pending } else { Vec::new() };
    let mut out = Vec::new();
    if let Some(target) = rules.first_response_ms {
        out.push(clock(rules, SlaTarget::FirstResponse, target, opened, first_stop, &pauses, now));
    }
    if let Some(target) = rules.resolution_ms {
        let mut all = pauses.clone();
        // Resolved spans before a resume do not count; the open one after the final resolve is
        // the stop itself, not a pause.
        all.extend(resolved.iter().filter(|p| p.until.is_some()));
        out.push(clock(rules, SlaTarget::Resolution, target, resolution_start, resolution_stop, &all, now));
    }
    out
}

fn close(pauses: &mut [Pause], at: Millis) {
    if let Some(last) = pauses.last_mut()
        && last.until.is_none()
    {
        last.until = Some(at.max(last.from));
    }
}

fn clock(
    rules: &ClockRules<'_>,
    target: SlaTarget,
    target_ms: Millis,
    started_at: Millis,
    stopped_at: Option<Millis>,
    pauses: &[Pause],
    now: Millis,
) -> Clock {
    // After the stop nothing counts: the pauses that were open then end there.
    let mut pauses: Vec<Pause> = pauses.to_vec();
    if let Some(stop) = stopped_at {
        for p in &mut pauses {
            if p.until.is_none() {
                p.until = Some(stop.max(p.from));
            }
        }
    }
    let paused = stopped_at.is_none() && pauses.iter().any(|p| p.until.is_none() && p.from <= now);
    let warn_ms = target_ms.saturating_mul(i64::from(rules.warning_percent.clamp(1, 99))) / 100;
    let due_at = rules.calendar.deadline(started_at, target_ms, &pauses);
    let warn_at = rules.calendar.deadline(started_at, warn_ms, &pauses);
    let end = stopped_at.unwrap_or(now).max(started_at);
    let remaining_ms = target_ms - rules.calendar.elapsed(started_at, end, &pauses);
    Clock { target, target_ms, started_at, due_at, warn_at, stopped_at, paused, remaining_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn at(s: &str, tz: &str) -> Millis {
        let dt: DateTime = s.parse().unwrap();
        TimeZone::get(tz).unwrap().to_ambiguous_timestamp(dt).compatible().unwrap().as_millisecond()
    }

    fn show(ms: Millis, tz: &str) -> String {
        Timestamp::from_millisecond(ms).unwrap().to_zoned(TimeZone::get(tz).unwrap()).datetime().to_string()
    }

    fn cal(tz: &str, hours: &[(&[&str], &str, &str)], holidays: &[&str]) -> Calendar {
        Calendar::new(&CalendarDef {
            time_zone: tz.into(),
            hours: hours
                .iter()
                .map(|(d, f, t)| HoursDef {
                    days: d.iter().map(|s| (*s).to_owned()).collect(),
                    from: (*f).into(),
                    to: (*t).into(),
                })
                .collect(),
            holidays: holidays.iter().map(|s| (*s).to_owned()).collect(),
        })
        .unwrap()
    }

    const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];

    #[test]
    fn within_one_day() {
        let c = cal("Europe/Lisbon", &[(WEEKDAYS, "09:00", "17:00")], &[]);
        // Wednesday 2026-11-25 10:00 + 2 h = 12:00.
        let due = c.deadline(at("2026-11-25T10:00", "Europe/Lisbon"), 2 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-11-25T12:00:00");
    }

    #[test]
    fn before_opening_starts_at_opening() {
        let c = cal("Europe/Lisbon", &[(WEEKDAYS, "09:00", "17:00")], &[]);
        let due = c.deadline(at("2026-11-25T06:30", "Europe/Lisbon"), 30 * M, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-11-25T09:30:00");
    }

    #[test]
    fn the_weekend_does_not_count() {
        let c = cal("Europe/Lisbon", &[(WEEKDAYS, "09:00", "17:00")], &[]);
        // Friday 2026-11-27 16:00 + 2 h: one hour on Friday, one on Monday.
        let due = c.deadline(at("2026-11-27T16:00", "Europe/Lisbon"), 2 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-11-30T10:00:00");
        // Started on Saturday: Monday opening + 1 h.
        let due = c.deadline(at("2026-11-28T12:00", "Europe/Lisbon"), H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-11-30T10:00:00");
    }

    #[test]
    fn a_holiday_is_skipped() {
        // Tuesday 2026-12-08 is a holiday in Portugal.
        let c = cal("Europe/Lisbon", &[(WEEKDAYS, "09:00", "17:00")], &["2026-12-08"]);
        let due = c.deadline(at("2026-12-07T16:00", "Europe/Lisbon"), 2 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-12-09T10:00:00");
    }

    #[test]
    fn dst_spring_forward_in_24_7_hours() {
        // New York springs forward on 2026-03-08 at 02:00 → 03:00: 4 h of wall time from
        // 00:00 is 05:00 local.
        let c = cal("America/New_York", &[(&["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "00:00", "24:00")], &[]);
        let due = c.deadline(at("2026-03-08T00:00", "America/New_York"), 4 * H, &[]).unwrap();
        assert_eq!(show(due, "America/New_York"), "2026-03-08T05:00:00");
        assert_eq!(
            c.elapsed(at("2026-03-08T00:00", "America/New_York"), at("2026-03-09T00:00", "America/New_York"), &[]),
            23 * H
        );
    }

    #[test]
    fn dst_fall_back_inside_business_hours() {
        // Lisbon falls back on 2026-10-25 at 02:00 → 01:00; hours 00:00–06:00 on Sundays hold
        // 7 real hours that day.
        let c = cal("Europe/Lisbon", &[(&["sun"], "00:00", "06:00")], &[]);
        let start = at("2026-10-25T00:00", "Europe/Lisbon");
        assert_eq!(c.elapsed(start, start + 10 * H, &[]), 7 * H);
        let due = c.deadline(start, 6 * H + 30 * M, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-10-25T05:30:00");
        // The next Sunday has 6 hours again.
        let due = c.deadline(start, 8 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Lisbon"), "2026-11-01T01:00:00");
    }

    #[test]
    fn opening_inside_a_dst_gap_starts_after_it() {
        // Hours from 02:30 on the day 02:00–03:00 does not exist: they start at 03:30.
        let c = cal("America/New_York", &[(&["sun"], "02:30", "05:00")], &[]);
        let due = c.deadline(at("2026-03-08T00:00", "America/New_York"), 30 * M, &[]).unwrap();
        assert_eq!(show(due, "America/New_York"), "2026-03-08T04:00:00");
    }

    #[test]
    fn overnight_hours_run_into_the_next_day() {
        // Nights 22:00–06:00 Monday to Friday (Friday's night ends Saturday 06:00).
        let c = cal("Europe/Madrid", &[(WEEKDAYS, "22:00", "06:00")], &[]);
        let due = c.deadline(at("2026-11-27T23:00", "Europe/Madrid"), 3 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Madrid"), "2026-11-28T02:00:00");
        // 8 h from Saturday 05:00: 1 h left that night, then Monday 22:00 + 7 h.
        let due = c.deadline(at("2026-11-28T05:00", "Europe/Madrid"), 8 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Madrid"), "2026-12-01T05:00:00");
    }

    #[test]
    fn a_holiday_clips_the_overnight_tail_on_its_date() {
        let c = cal("Europe/Madrid", &[(WEEKDAYS, "22:00", "06:00")], &["2026-11-26"]);
        // Wednesday 22:00 night: its Thursday tail (a holiday) does not count, nor does
        // Thursday's own night start; Friday 00:00–06:00 is Thursday night's tail, on a work date.
        let due = c.deadline(at("2026-11-25T22:00", "Europe/Madrid"), 3 * H, &[]).unwrap();
        assert_eq!(show(due, "Europe/Madrid"), "2026-11-27T01:00:00");
    }

    #[test]
    fn pauses_are_excluded_and_an_open_pause_stops_the_deadline() {
        let c = Calendar::always();
        let pause = Pause { from: 1000 + H, until: Some(1000 + 3 * H) };
        assert_eq!(c.deadline(1000, 2 * H, &[pause]), Some(1000 + 4 * H));
        let open = Pause { from: 1000 + H, until: None };
        assert_eq!(c.deadline(1000, 2 * H, &[open]), None);
        assert_eq!(c.deadline(1000, H / 2, &[open]), Some(1000 + H / 2));
        assert_eq!(c.elapsed(1000, 1000 + 5 * H, &[open]), H);
    }

    #[test]
    fn bad_calendars_are_refused() {
        let def = |tz: &str, from: &str, to: &str, day: &str, holiday: &str| CalendarDef {
            time_zone: tz.into(),
            hours: vec![HoursDef { days: vec![day.into()], from: from.into(), to: to.into() }],
            holidays: vec![holiday.into()],
        };
        assert!(matches!(
            Calendar::new(&def("Mars/Olympus", "09:00", "17:00", "mon", "2026-01-01")),
            Err(CalendarError::TimeZone(_))
        ));
        assert!(matches!(
            Calendar::new(&def("UTC", "9:00", "17:00", "mon", "2026-01-01")),
            Err(CalendarError::TimeOfDay(_))
        ));
        assert!(matches!(
            Calendar::new(&def("UTC", "09:00", "24:30", "mon", "2026-01-01")),
            Err(CalendarError::TimeOfDay(_))
        ));
        assert!(matches!(
            Calendar::new(&def("UTC", "09:00", "17:00", "moon", "2026-01-01")),
            Err(CalendarError::Weekday(_))
        ));
        assert!(matches!(
            Calendar::new(&def("UTC", "09:00", "17:00", "mon", "2026-02-30")),
            Err(CalendarError::Date(_))
        ));
        let never = CalendarDef { time_zone: "UTC".into(), hours: vec![], holidays: vec![] };
        assert_eq!(Calendar::new(&never).unwrap_err(), CalendarError::NeverOpen);
    }

    #[test]
    fn a_calendar_closed_for_good_has_no_deadline() {
        // Open only on 2026-12-25, which is a holiday: the target never runs out.
        let c = cal("UTC", &[(&["fri"], "09:00", "10:00")], &[]);
        let mut def_holidays: Vec<String> = Vec::new();
        let mut d: Date = "2026-11-27".parse().unwrap();
        for _ in 0..300 {
            def_holidays.push(d.to_string());
            d = d.checked_add(jiff::Span::new().days(7)).unwrap();
        }
        let closed = Calendar::new(&CalendarDef {
            time_zone: "UTC".into(),
            hours: vec![HoursDef { days: vec!["fri".into()], from: "09:00".into(), to: "10:00".into() }],
            holidays: def_holidays,
        })
        .unwrap();
        let start = at("2026-11-27T00:00", "UTC");
        assert!(c.deadline(start, H, &[]).is_some());
        assert!(closed.deadline(start, 400 * H, &[]).is_none());
    }

    fn rules(calendar: &Calendar, pending_excluded: bool, on_reopen: OnReopen) -> ClockRules<'_> {
        ClockRules {
            calendar,
            first_response_ms: Some(H),
            resolution_ms: Some(4 * H),
            pending_excluded,
            on_reopen,
            warning_percent: 80,
        }
    }

    #[test]
    fn a_reply_stops_the_first_response_clock() {
        let c = Calendar::always();
        let r = rules(&c, false, OnReopen::Restart);
        let out = clocks(&r, &[Happening::Opened(0), Happening::AgentReplied(30 * M)], 2 * H);
        assert_eq!(out[0].target, SlaTarget::FirstResponse);
        assert_eq!((out[0].due_at, out[0].warn_at, out[0].stopped_at), (Some(H), Some(48 * M), Some(30 * M)));
        assert!(!out[0].breached_by(2 * H));
        assert_eq!(out[0].remaining_ms, 30 * M);
        assert_eq!(out[1].due_at, Some(4 * H));
        assert!(out[1].stopped_at.is_none());
        // Without a reply it is breached once due.
        let late = clocks(&r, &[Happening::Opened(0), Happening::AgentReplied(2 * H)], 3 * H);
        assert!(late[0].breached_by(3 * H));
        assert!(!late[0].breached_by(H - 1));
    }

    #[test]
    fn pending_time_is_excluded_only_when_configured() {
        let c = Calendar::always();
        let history =
            [Happening::Opened(0), Happening::AgentReplied(10 * M), Happening::Pending(H), Happening::Resumed(3 * H)];
        let with = clocks(&rules(&c, true, OnReopen::Restart), &history, 4 * H);
        assert_eq!(with[1].due_at, Some(6 * H));
        let without = clocks(&rules(&c, false, OnReopen::Restart), &history, 4 * H);
        assert_eq!(without[1].due_at, Some(4 * H));
        // Still waiting: the clock is paused and has no deadline.
        let waiting = clocks(&rules(&c, true, OnReopen::Restart), &history[..3], 2 * H);
        assert!(waiting[1].paused);
        assert_eq!((waiting[1].due_at, waiting[1].remaining_ms), (None, 3 * H));
    }

    #[test]
    fn reopening_restarts_or_resumes_the_resolution_clock() {
        let c = Calendar::always();
        let history = [Happening::Opened(0), Happening::Resolved(H), Happening::Reopened(10 * H)];
        let restart = clocks(&rules(&c, false, OnReopen::Restart), &history, 11 * H);
        assert_eq!((restart[1].started_at, restart[1].due_at), (10 * H, Some(14 * H)));
        let resume = clocks(&rules(&c, false, OnReopen::Resume), &history, 11 * H);
        assert_eq!((resume[1].started_at, resume[1].due_at), (0, Some(13 * H)));
        // The first-response clock stopped at the resolution and stays stopped.
        assert_eq!(restart[0].stopped_at, Some(H));
        // Resolved again: stopped.
        let mut again = history.to_vec();
        again.push(Happening::Resolved(12 * H));
        let done = clocks(&rules(&c, false, OnReopen::Restart), &again, 20 * H);
        assert_eq!(done[1].stopped_at, Some(12 * H));
        assert!(!done[1].breached_by(20 * H));
    }

    #[test]
    fn business_hours_apply_to_ticket_clocks() {
        let c = cal("Europe/Lisbon", &[(WEEKDAYS, "09:00", "17:00")], &[]);
        let r = rules(&c, false, OnReopen::Restart);
        let opened = at("2026-11-27T16:30", "Europe/Lisbon");
        let out = clocks(&r, &[Happening::Opened(opened)], opened);
        assert_eq!(show(out[0].due_at.unwrap(), "Europe/Lisbon"), "2026-11-30T09:30:00");
        // 80 % of 1 h = 48 min: 30 on Friday, 18 on Monday.
        assert_eq!(show(out[0].warn_at.unwrap(), "Europe/Lisbon"), "2026-11-30T09:18:00");
    }
}
