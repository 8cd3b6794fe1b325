-- Lead alerts: intake API keys (only the SHA-256 of each secret is kept),
-- reps' working hours and time off for routing, one live lead per
-- (organization, source, external id) so an intake replay can never create
-- a second lead, and the indexes alerting and its reports read by.

-- +goose Up
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES organizations (id),
    name         text NOT NULL,
    hint         text NOT NULL DEFAULT '',
    hash         text NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at);

CREATE TABLE rep_availability (
    org_id       text NOT NULL REFERENCES organizations (id),
    user_id      text NOT NULL,
    availability text NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE UNIQUE INDEX leads_org_source_external_key ON leads (org_id, source, external_id)
    WHERE external_id <> '';
CREATE INDEX alerts_org_created_idx ON alerts (org_id, created_at);
CREATE INDEX notifications_org_created_idx ON notifications (org_id, created_at);

-- +goose Down
DROP INDEX notifications_org_created_idx;
DROP INDEX alerts_org_created_idx;
DROP INDEX leads_org_source_external_key;
DROP TABLE rep_availability;
DROP TABLE api_keys;
