//! Presence time and teams for the reports: each agent's presence changes, kept as raw records
//! and added up, in the same transaction, into per-agent 15-minute rollups of the time spent
//! available, busy and away; the heartbeat and the start-up rule that close an interval a dead
//! node left open; agents' team memberships over time.
//!
//! docs/reports.md ("Occupancy", "Teams") defines what is counted.

use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyConnection, Row};

use super::{Backend, Result, Store, StoreError, now_ms, parse};
use crate::reports::{
    DurationRow, OpenPresence, PresenceRow, PresenceTimes, ReportFilter, TeamStretch, bucket_of, split_by_bucket,
};
use crate::{AgentId, Presence, TeamName};

/// Adds `times` per bucket to the presence rollups of `agent`, in bucket order.
async fn add_presence(conn: &mut AnyConnection, agent: &str, parts: &BTreeMap<i64, PresenceTimes>) -> Result<()> {
    for (bucket_at, t) in parts {
        if t.is_zero() {
            continue;
        }
        sqlx::query(
            "INSERT INTO presence_rollups (bucket_at, agent_id, available_ms, busy_ms, away_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bucket_at, agent_id) DO UPDATE SET \
             available_ms = presence_rollups.available_ms + excluded.available_ms, \
             busy_ms = presence_rollups.busy_ms + excluded.busy_ms, \
             away_ms = presence_rollups.away_ms + excluded.away_ms",
        )
        .bind(*bucket_at)
        .bind(agent)
        .bind(t.available_ms)
        .bind(t.busy_ms)
        .bind(t.away_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// In `conn`'s transaction: `agent` is in `presence` from `at` on. The interval of the presence
/// it leaves is closed at `at` (never before it began) and added to the rollups, split at bucket
/// boundaries; the change is recorded. Returns whether the presence changed (the same presence
/// again only refreshes the heartbeat).
async fn change_presence(
    conn: &mut AnyConnection,
    backend: Backend,
    agent: &str,
    presence: Presence,
    at: i64,
) -> Result<bool> {
    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!("SELECT presence, presence_since FROM agent_routing WHERE agent_id = $1{lock}"))
        .bind(agent)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound { what: "agent" })?;
    let old: Presence = parse(&row, "presence")?;
    let since: Option<i64> = row.try_get("presence_since")?;
    if old == presence && since.is_some() {
        sqlx::query("UPDATE agent_routing SET presence_seen_at = $1 WHERE agent_id = $2")
            .bind(at.max(since.unwrap_or(at)))
            .bind(agent)
            .execute(&mut *conn)
            .await?;
        return Ok(false);
    }
    // A clock behind the interval's start (another node's) does not make time negative.
    let at = since.map_or(at, |s| at.max(s));
    if let Some(since) = since {
        let mut parts = BTreeMap::new();
        for (bucket_at, ms) in split_by_bucket(since, at) {
            parts.insert(bucket_at, PresenceTimes::of(old, ms));
        }
        add_presence(conn, agent, &parts).await?;
    }
    sqlx::query("INSERT INTO presence_events (id, agent_id, presence, at) VALUES ($1, $2, $3, $4)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(agent)
        .bind(presence.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE agent_routing SET presence = $1, presence_since = $2, presence_seen_at = $2, updated_at = $3 \
         WHERE agent_id = $4",
    )
    .bind(presence.as_str())
    .bind(at)
    .bind(now_ms())
    .bind(agent)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A presence rollup row (`bucket_at`, `agent_id`, `available_ms`, `busy_ms`, `away_ms`).
fn presence_row(row: &sqlx::any::AnyRow) -> Result<PresenceRow> {
    Ok(PresenceRow {
        bucket_at: row.try_get("bucket_at")?,
        agent_id: row.try_get("agent_id")?,
        times: PresenceTimes {
            available_ms: row.try_get("available_ms")?,
            busy_ms: row.try_get("busy_ms")?,
            away_ms: row.try_get("away_ms")?,
        },
    })
}

impl Store {
    /// Sets `agent`'s stored presence from `at_ms` on, recording the change and adding the
    /// interval it closes to the presence rollups in the same transaction. The agent needs a
    /// routing profile (`set_agent_routing`). Returns whether the presence changed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] without a routing profile, [`StoreError::Fenced`] through a fenced
    /// store whose lease moved on, or a database failure.
    pub async fn set_presence(&self, agent: AgentId, presence: Presence, at_ms: i64) -> Result<bool> {
        let mut tx = self.begin_fenced().await?;
        let changed = change_presence(&mut tx, self.backend, &agent.to_string(), presence, at_ms).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// On start (nobody is connected yet): every agent not offline goes offline at the last time
    /// their node vouched for them (the heartbeat, `presence_seen_at`), or when the presence
    /// began if there was no heartbeat since; the intervals are counted up to then. Returns how
    /// many were closed.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] through a fenced store whose lease moved on, or a database failure.
    pub async fn close_open_presence(&self) -> Result<u64> {
        let open = sqlx::query(
            "SELECT agent_id, presence_since, presence_seen_at FROM agent_routing WHERE presence <> 'offline'",
        )
        .fetch_all(&self.write)
        .await?;
        let mut closed = 0;
        for row in open {
            let agent: String = row.try_get("agent_id")?;
            let since: Option<i64> = row.try_get("presence_since")?;
            let seen: Option<i64> = row.try_get("presence_seen_at")?;
            let at = match (since, seen) {
                (Some(s), Some(h)) => s.max(h),
                (Some(s), None) => s,
                (None, _) => now_ms(),
            };
            let mut tx = self.begin_fenced().await?;
            if change_presence(&mut tx, self.backend, &agent, Presence::Offline, at).await? {
                closed += 1;
            }
            tx.commit().await?;
        }
        Ok(closed)
    }

    /// The heartbeat: the node holding `agents` vouches, at `at_ms`, that their presence still
    /// holds (see [`Store::close_open_presence`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn presence_heartbeat(&self, agents: &[AgentId], at_ms: i64) -> Result<()> {
        for agent in agents {
            sqlx::query(
                "UPDATE agent_routing SET presence_seen_at = $1 WHERE agent_id = $2 AND presence <> 'offline' \
                 AND (presence_seen_at IS NULL OR presence_seen_at < $1)",
            )
            .bind(at_ms)
            .bind(agent.to_string())
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    /// The presence rollups in `[from_ms, to_ms)`, per bucket and agent, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn presence_rollups(&self, from_ms: i64, to_ms: i64) -> Result<Vec<PresenceRow>> {
        sqlx::query(
            "SELECT bucket_at, agent_id, available_ms, busy_ms, away_ms FROM presence_rollups \
             WHERE bucket_at >= $1 AND bucket_at < $2 ORDER BY bucket_at, agent_id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(presence_row)
        .collect()
    }

    /// The presence rollups summed per agent and report bucket of `spans` (each row's
    /// `bucket_at` is its report bucket's start; see [`crate::reports::Span`]): a row per agent
    /// and report bucket rather than per agent and quarter hour.
    ///
    /// # Errors
    /// A database failure.
    pub async fn presence_rollups_in_spans(&self, spans: &[crate::reports::Span]) -> Result<Vec<PresenceRow>> {
        let key = super::reports::SPAN_KEY;
        let sql = format!(
            "SELECT {key} AS bucket_at, agent_id, CAST(SUM(available_ms) AS BIGINT) AS available_ms, \
             CAST(SUM(busy_ms) AS BIGINT) AS busy_ms, CAST(SUM(away_ms) AS BIGINT) AS away_ms FROM presence_rollups \
             WHERE bucket_at >= $3 AND bucket_at < $4 GROUP BY {key}, agent_id"
        );
        self.fetch_over_spans(&sql, spans, &[]).await?.iter().map(presence_row).collect()
    }

    /// The presence intervals still open (agents available, busy or away, and since when).
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn open_presence(&self) -> Result<Vec<OpenPresence>> {
        sqlx::query(
            "SELECT agent_id, presence, presence_since FROM agent_routing \
             WHERE presence <> 'offline' AND presence_since IS NOT NULL ORDER BY agent_id",
        )
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            Ok(OpenPresence {
                agent_id: row.try_get("agent_id")?,
                presence: parse(row, "presence")?,
                since: row.try_get("presence_since")?,
            })
        })
        .collect()
    }

    /// Puts `agent` in `team` (`None`: in no team) from the 15-minute bucket holding `at_ms` on.
    /// Returns the team they were in before.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown agent, or a database failure.
    pub async fn set_agent_team(
        &self,
        agent: AgentId,
        team: Option<&TeamName>,
        at_ms: i64,
    ) -> Result<Option<TeamName>> {
        let agent = agent.to_string();
        let mut tx = self.write.begin().await?;
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
        if sqlx::query(&format!("SELECT id FROM agents WHERE id = $1{lock}"))
            .bind(&agent)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound { what: "agent" });
        }
        let current = sqlx::query("SELECT id, team, from_ms FROM agent_teams WHERE agent_id = $1 AND to_ms IS NULL")
            .bind(&agent)
            .fetch_optional(&mut *tx)
            .await?;
        let before: Option<TeamName> = current.as_ref().map(|row| parse(row, "team")).transpose()?;
        if before.as_ref() == team {
            return Ok(before);
        }
        let mut from = bucket_of(at_ms);
        if let Some(row) = &current {
            let started: i64 = row.try_get("from_ms")?;
            from = from.max(started);
            sqlx::query("UPDATE agent_teams SET to_ms = $1 WHERE id = $2")
                .bind(from)
                .bind(row.try_get::<String, _>("id")?)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(team) = team {
            sqlx::query("INSERT INTO agent_teams (id, agent_id, team, from_ms, to_ms) VALUES ($1, $2, $3, $4, NULL)")
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(&agent)
                .bind(team.as_str())
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(before)
    }

    /// Every agent's current team.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn current_teams(&self) -> Result<HashMap<AgentId, TeamName>> {
        sqlx::query("SELECT agent_id, team FROM agent_teams WHERE to_ms IS NULL")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| Ok((parse(row, "agent_id")?, parse(row, "team")?)))
            .collect()
    }

    /// Who was in `team` when: every stretch of membership, empty for a team nobody was ever in.
    ///
    /// # Errors
    /// A database failure.
    pub async fn team_stretches(&self, team: &TeamName) -> Result<Vec<TeamStretch>> {
        sqlx::query(
            "SELECT agent_id, from_ms, to_ms FROM agent_teams WHERE team = $1 AND (to_ms IS NULL OR to_ms > from_ms) \
             ORDER BY agent_id, from_ms",
        )
        .bind(team.as_str())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            Ok(TeamStretch {
                agent_id: row.try_get("agent_id")?,
                from_ms: row.try_get("from_ms")?,
                to_ms: row.try_get("to_ms")?,
            })
        })
        .collect()
    }

    /// Whether any agent was ever in `team`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn team_known(&self, team: &TeamName) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM agent_teams WHERE team = $1 LIMIT 1")
            .bind(team.as_str())
            .fetch_optional(&self.read)
            .await?
            .is_some())
    }

    /// The duration histograms per 15-minute bucket and agent in `[from_ms, to_ms)` over the
    /// rows `filter` matches, rows with no agent left out (a team's histograms are its members').
    ///
    /// # Errors
    /// A database failure, or a measure this version does not know.
    pub async fn report_durations_by_agent(
        &self,
        from_ms: i64,
        to_ms: i64,
        filter: &ReportFilter,
    ) -> Result<Vec<(String, DurationRow)>> {
        let sql = format!(
            "SELECT bucket_at, agent_id, measure, bin, CAST(SUM(n) AS BIGINT) AS n FROM report_durations \
             WHERE bucket_at >= $1 AND bucket_at < $2 AND agent_id <> ''{} \
             GROUP BY bucket_at, agent_id, measure, bin",
            super::reports::filter_sql(3)
        );
        let mut q = sqlx::query(&sql).bind(from_ms).bind(to_ms);
        for v in super::reports::filter_values(filter) {
            q = q.bind(v);
        }
        q.fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("agent_id")?, super::reports::duration_row(row)?)))
            .collect()
    }
}
