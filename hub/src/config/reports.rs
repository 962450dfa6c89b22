//! `[reports]`: the time zone reports are bucketed in when the request names none.

use serde::{Deserialize, Serialize};

/// `[reports]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// The IANA time zone (`Europe/Madrid`) of a report's hours, days and weeks when the request
    /// gives no `tz`. Checked at start.
    pub time_zone: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self { time_zone: "UTC".into() }
    }
}
