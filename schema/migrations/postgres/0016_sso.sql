-- Single sign-on with OpenID Connect.
-- `sso_identities`: which staff member an identity provider's subject is (issuer + subject, as the
-- ID token names them); found again at every sign-in, whatever the e-mail address says.
CREATE TABLE sso_identities (
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents(id),
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_agent ON sso_identities(agent_id);

-- Sign-ins under way: the state sent to the provider with the PKCE verifier and nonce kept
-- here, bound to the browser that started it (digest of its cookie); for a step-up, the session
-- it refreshes. Each is taken once and lives a few minutes.
CREATE TABLE sso_logins (
    state          TEXT PRIMARY KEY NOT NULL,
    browser_digest TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    session_digest TEXT,
    return_to      TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX sso_logins_expiry ON sso_logins(expires_at);

-- One-time codes that hand a finished sign-in to the page (by digest; single use, 60 seconds),
-- bound to the same browser.
CREATE TABLE sso_handoffs (
    code_digest      TEXT PRIMARY KEY NOT NULL,
    agent_id         TEXT NOT NULL REFERENCES agents(id),
    browser_digest   TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX sso_handoffs_expiry ON sso_handoffs(expires_at);
