//! Cost of one SLA deadline in business time (`router::sla::Calendar::deadline`), the work the
//! hub does for each clock of a ticket whenever the ticket changes.
//!
//! Calendars: around the clock (no calendar); Lisbon office hours Monday to Friday 09:00–18:00
//! with two holidays; the same with two pauses (pending time excluded); and a calendar open one
//! minute a week, where a 90-day target walks the whole five-year horizon (the worst case).
//! Targets: 15 minutes, 1 day, 90 days (the longest a policy accepts). Each call is timed with
//! `Instant` into an HDR histogram (ns); starts move by 7 minutes per call so that they fall at
//! every time of the week.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use hdrhistogram::Histogram;
use router::sla::{Calendar, CalendarDef, HoursDef, Pause};

const CALLS: i64 = 5_000;
const MIN: i64 = 60_000;

fn calendar(tz: &str, days: &[&str], from: &str, to: &str, holidays: &[&str]) -> Calendar {
    Calendar::new(&CalendarDef {
        time_zone: tz.into(),
        hours: vec![HoursDef {
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            from: from.into(),
            to: to.into(),
        }],
        holidays: holidays.iter().map(|d| (*d).to_owned()).collect(),
    })
    .unwrap()
}

fn main() {
    let office = calendar(
        "Europe/Lisbon",
        &["mon", "tue", "wed", "thu", "fri"],
        "09:00",
        "18:00",
        &["2026-12-08", "2026-12-25"],
    );
    let sparse = calendar("UTC", &["mon"], "09:00", "09:01", &[]);
    let always = Calendar::always();
    // 2026-11-30T00:00Z.
    let start = 1_795_996_800_000;
    let pauses = [
        Pause { from: start + 60 * MIN, until: Some(start + 300 * MIN) },
        Pause { from: start + 2 * 1440 * MIN, until: Some(start + 3 * 1440 * MIN) },
    ];
    println!("| calendar | target | calls | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    for (name, cal, paused) in [
        ("around the clock", &always, &[][..]),
        ("office hours, holidays", &office, &[][..]),
        ("office hours, 2 pauses", &office, &pauses[..]),
        ("1 min a week (horizon walk)", &sparse, &[][..]),
    ] {
        for (label, target) in [("15 min", 15 * MIN), ("1 day", 1440 * MIN), ("90 days", 90 * 1440 * MIN)] {
            let mut h = Histogram::<u64>::new(3).unwrap();
            let mut found = 0;
            for i in 0..CALLS {
                let t = Instant::now();
                let due = cal.deadline(start + i * 7 * MIN, target, paused);
                h.record(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)).unwrap();
                found += i64::from(due.is_some());
            }
            let us = |v: u64| format!("{:.1} µs", v as f64 / 1000.0);
            println!(
                "| {name} | {label} | {CALLS} ({found} with a deadline) | {} | {} | {} |",
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.99)),
                us(h.max())
            );
        }
    }
}
