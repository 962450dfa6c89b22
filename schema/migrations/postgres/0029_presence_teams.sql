-- Presence time and teams (docs/reports.md, "Occupancy" and "Teams").
--
-- Each agent's presence changes are kept (`presence_events`: the raw record a recount reads) and
-- added up as they are stored, in the same transaction, into per-agent 15-minute rollups of the
-- seconds spent available, busy and away (`presence_rollups`, split exactly at bucket
-- boundaries). `agent_routing` keeps when the current presence began (`presence_since`) and when
-- the node holding the agent last vouched for it (`presence_seen_at`, a heartbeat): a hub that
-- starts closes every interval left open at that last known time.
ALTER TABLE agent_routing ADD COLUMN presence_since BIGINT;
ALTER TABLE agent_routing ADD COLUMN presence_seen_at BIGINT;

CREATE TABLE presence_events (
    id       TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    presence TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX presence_events_agent ON presence_events(agent_id, at, id);

CREATE TABLE presence_rollups (
    bucket_at    BIGINT NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    available_ms BIGINT NOT NULL DEFAULT 0,
    busy_ms      BIGINT NOT NULL DEFAULT 0,
    away_ms      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_at, agent_id)
);

-- Teams: an agent belongs to at most one team at a time; each row is one stretch of membership
-- in whole 15-minute buckets, `[from_ms, to_ms)`, `to_ms` NULL for the current one. A team is
-- known once an agent was ever put in it. Reports filter agent-attributed measures by the team
-- each agent was in at each bucket.
CREATE TABLE agent_teams (
    id       TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    team     TEXT NOT NULL,
    from_ms  BIGINT NOT NULL,
    to_ms    BIGINT
);
CREATE INDEX agent_teams_team ON agent_teams(team, from_ms);
CREATE UNIQUE INDEX agent_teams_current ON agent_teams(agent_id) WHERE to_ms IS NULL;
