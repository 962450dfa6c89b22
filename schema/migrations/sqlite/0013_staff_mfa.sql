-- Staff multi-factor sign-in (TOTP, RFC 6238). `staff_mfa` holds one member's TOTP secret,
-- sealed by the hub's secrets key (never in clear), pending until the member confirms a first
-- code (`confirmed_at`); `last_step` is the last 30-second step a code was accepted for, so the
-- same code (or an older one) is refused when replayed. Recovery codes are kept as SHA-256
-- digests, each usable once. A sign-in challenge is the short-lived token that carries a
-- password-checked sign-in to its second step; only its digest is stored.
CREATE TABLE staff_mfa (
    agent_id      TEXT PRIMARY KEY NOT NULL REFERENCES agents(id),
    secret_sealed TEXT NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_recovery_codes (
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    code_digest TEXT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (agent_id, code_digest)
);

CREATE TABLE staff_mfa_challenges (
    challenge_digest TEXT PRIMARY KEY NOT NULL,
    agent_id         TEXT NOT NULL REFERENCES agents(id),
    expires_at       BIGINT NOT NULL,
    failures         BIGINT NOT NULL,
    used_at          BIGINT
);
CREATE INDEX staff_mfa_challenges_expiry ON staff_mfa_challenges(expires_at);
