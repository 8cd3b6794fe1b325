-- The initial schema, SQLite edition of migrations/postgres/00001_init.sql:
-- the same tables, columns, keys and indexes, with SQLite's types. Times are
-- declared DATETIME because that declared type is what makes the driver
-- parse them back into time.Time; JSON-serialized fields are TEXT.
--
-- Conventions: ids are text UUIDs chosen by the creator (phones create rows
-- offline); every organization-owned table carries org_id and the sync
-- version (the organization's change sequence of the last write); optional
-- references are '' rather than NULL because the domain uses plain strings,
-- which is also why they carry no foreign keys.

-- +goose Up
CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    time_zone   TEXT NOT NULL DEFAULT '',
    settings    TEXT,
    change_seq  INTEGER NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    version         INTEGER NOT NULL,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    updated_by      TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    role            TEXT NOT NULL DEFAULT '',
    escalation_tier TEXT NOT NULL DEFAULT '',
    territories     TEXT,
    skills          TEXT,
    top_performer   BOOLEAN NOT NULL DEFAULT 0,
    active          BOOLEAN NOT NULL DEFAULT 0,
    password_hash   TEXT NOT NULL DEFAULT ''
);
-- The write path stores emails lowercased, so a plain unique index makes
-- them unique case-insensitively (an email signs in to exactly one user).
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email <> '';
-- The target of refresh_tokens' (org_id, user_id) foreign key.
CREATE UNIQUE INDEX users_org_id_id_key ON users (org_id, id);
CREATE INDEX users_org_version_idx ON users (org_id, version);
CREATE INDEX users_org_role_idx ON users (org_id, role);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    version      INTEGER NOT NULL,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    updated_by   TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    platform     TEXT NOT NULL DEFAULT '',
    push_token   TEXT NOT NULL DEFAULT '',
    app_version  TEXT NOT NULL DEFAULT '',
    last_seen_at DATETIME,
    revoked_at   DATETIME
);
CREATE INDEX devices_org_version_idx ON devices (org_id, version);
CREATE INDEX devices_org_user_idx ON devices (org_id, user_id);

CREATE TABLE leads (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations (id),
    version           INTEGER NOT NULL,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    created_by        TEXT NOT NULL DEFAULT '',
    updated_by        TEXT NOT NULL DEFAULT '',
    deleted_at        DATETIME,
    external_id       TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    first_name        TEXT NOT NULL DEFAULT '',
    last_name         TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    phone             TEXT NOT NULL DEFAULT '',
    street            TEXT NOT NULL DEFAULT '',
    city              TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT '',
    zip               TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT '',
    assigned_to       TEXT NOT NULL DEFAULT '',
    routing_rule      TEXT NOT NULL DEFAULT '',
    white_glove       BOOLEAN NOT NULL DEFAULT 0,
    lost_reason       TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    customer_id       TEXT NOT NULL DEFAULT '',
    property_value    INTEGER NOT NULL DEFAULT 0,
    income            INTEGER NOT NULL DEFAULT 0,
    engagement        TEXT NOT NULL DEFAULT '',
    response_minutes  INTEGER,
    interaction_count INTEGER NOT NULL DEFAULT 0,
    budget            TEXT NOT NULL DEFAULT '',
    authority         TEXT NOT NULL DEFAULT '',
    need              TEXT NOT NULL DEFAULT '',
    timeline          TEXT NOT NULL DEFAULT '',
    score             INTEGER NOT NULL DEFAULT 0,
    temperature       TEXT NOT NULL DEFAULT '',
    score_breakdown   TEXT
);
CREATE INDEX leads_org_version_idx ON leads (org_id, version);
CREATE INDEX leads_org_assigned_idx ON leads (org_id, assigned_to);
CREATE INDEX leads_org_status_idx ON leads (org_id, status);
CREATE INDEX leads_org_created_idx ON leads (org_id, created_at);
CREATE INDEX leads_org_external_idx ON leads (org_id, external_id) WHERE external_id <> '';

CREATE TABLE customers (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    version       INTEGER NOT NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
    created_by    TEXT NOT NULL DEFAULT '',
    updated_by    TEXT NOT NULL DEFAULT '',
    deleted_at    DATETIME,
    lead_id       TEXT NOT NULL DEFAULT '',
    owner_id      TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    street        TEXT NOT NULL DEFAULT '',
    city          TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT '',
    zip           TEXT NOT NULL DEFAULT '',
    sms_opt_out   BOOLEAN NOT NULL DEFAULT 0,
    email_opt_out BOOLEAN NOT NULL DEFAULT 0,
    notes         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX customers_org_version_idx ON customers (org_id, version);
CREATE INDEX customers_org_lead_idx ON customers (org_id, lead_id);
CREATE INDEX customers_org_owner_idx ON customers (org_id, owner_id);

CREATE TABLE projects (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations (id),
    version        INTEGER NOT NULL,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    created_by     TEXT NOT NULL DEFAULT '',
    updated_by     TEXT NOT NULL DEFAULT '',
    deleted_at     DATETIME,
    customer_id    TEXT NOT NULL DEFAULT '',
    lead_id        TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT '',
    sales_rep_id   TEXT NOT NULL DEFAULT '',
    assigned_tech  TEXT NOT NULL DEFAULT '',
    quote_cents    INTEGER NOT NULL DEFAULT 0,
    contract_cents INTEGER NOT NULL DEFAULT 0,
    street         TEXT NOT NULL DEFAULT '',
    city           TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT '',
    zip            TEXT NOT NULL DEFAULT '',
    scheduled_for  DATETIME,
    completed_at   DATETIME,
    notes          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX projects_org_version_idx ON projects (org_id, version);
CREATE INDEX projects_org_tech_idx ON projects (org_id, assigned_tech);
CREATE INDEX projects_org_lead_idx ON projects (org_id, lead_id);
CREATE INDEX projects_org_customer_idx ON projects (org_id, customer_id);
CREATE INDEX projects_org_status_idx ON projects (org_id, status);

CREATE TABLE interactions (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    version          INTEGER NOT NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    created_by       TEXT NOT NULL DEFAULT '',
    updated_by       TEXT NOT NULL DEFAULT '',
    deleted_at       DATETIME,
    lead_id          TEXT NOT NULL DEFAULT '',
    customer_id      TEXT NOT NULL DEFAULT '',
    project_id       TEXT NOT NULL DEFAULT '',
    user_id          TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL DEFAULT '',
    direction        TEXT NOT NULL DEFAULT '',
    subject          TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    occurred_at      DATETIME NOT NULL,
    duration_seconds INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX interactions_org_version_idx ON interactions (org_id, version);
CREATE INDEX interactions_org_lead_idx ON interactions (org_id, lead_id);
CREATE INDEX interactions_org_project_idx ON interactions (org_id, project_id);
CREATE INDEX interactions_org_user_idx ON interactions (org_id, user_id, occurred_at);

CREATE TABLE appointments (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    version     INTEGER NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    updated_by  TEXT NOT NULL DEFAULT '',
    deleted_at  DATETIME,
    lead_id     TEXT NOT NULL DEFAULT '',
    customer_id TEXT NOT NULL DEFAULT '',
    project_id  TEXT NOT NULL DEFAULT '',
    assigned_to TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT '',
    title       TEXT NOT NULL DEFAULT '',
    starts_at   DATETIME NOT NULL,
    ends_at     DATETIME NOT NULL,
    status      TEXT NOT NULL DEFAULT '',
    location    TEXT NOT NULL DEFAULT '',
    notes       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX appointments_org_version_idx ON appointments (org_id, version);
CREATE INDEX appointments_org_assigned_starts_idx ON appointments (org_id, assigned_to, starts_at);
CREATE INDEX appointments_org_lead_idx ON appointments (org_id, lead_id);
CREATE INDEX appointments_org_project_idx ON appointments (org_id, project_id);
-- Reminders are scheduled across organizations by start time.
CREATE INDEX appointments_starts_idx ON appointments (starts_at) WHERE deleted_at IS NULL;

CREATE TABLE photos (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    version          INTEGER NOT NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    created_by       TEXT NOT NULL DEFAULT '',
    updated_by       TEXT NOT NULL DEFAULT '',
    deleted_at       DATETIME,
    project_id       TEXT NOT NULL DEFAULT '',
    appointment_id   TEXT NOT NULL DEFAULT '',
    taken_by         TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL DEFAULT '',
    caption          TEXT NOT NULL DEFAULT '',
    taken_at         DATETIME NOT NULL,
    latitude         REAL,
    longitude        REAL,
    sha256           TEXT NOT NULL DEFAULT '',
    byte_size        INTEGER NOT NULL DEFAULT 0,
    content_type     TEXT NOT NULL DEFAULT '',
    width            INTEGER NOT NULL DEFAULT 0,
    height           INTEGER NOT NULL DEFAULT 0,
    upload_state     TEXT NOT NULL DEFAULT '',
    processing_state TEXT NOT NULL DEFAULT '',
    failure_reason   TEXT NOT NULL DEFAULT '',
    original_key     TEXT NOT NULL DEFAULT '',
    thumb_key        TEXT NOT NULL DEFAULT '',
    screen_key       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX photos_org_version_idx ON photos (org_id, version);
CREATE INDEX photos_org_project_idx ON photos (org_id, project_id);
-- Uploads are deduplicated by content hash.
CREATE INDEX photos_org_sha256_idx ON photos (org_id, sha256);

CREATE TABLE reviews (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    version      INTEGER NOT NULL,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    updated_by   TEXT NOT NULL DEFAULT '',
    customer_id  TEXT NOT NULL DEFAULT '',
    project_id   TEXT NOT NULL DEFAULT '',
    platform     TEXT NOT NULL DEFAULT '',
    rating       INTEGER NOT NULL DEFAULT 0,
    body         TEXT NOT NULL DEFAULT '',
    reviewed_at  DATETIME NOT NULL,
    response     TEXT NOT NULL DEFAULT '',
    responded_at DATETIME
);
CREATE INDEX reviews_org_version_idx ON reviews (org_id, version);
CREATE INDEX reviews_org_customer_idx ON reviews (org_id, customer_id);
CREATE INDEX reviews_org_project_idx ON reviews (org_id, project_id);

CREATE TABLE partners (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    version            INTEGER NOT NULL,
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL,
    created_by         TEXT NOT NULL DEFAULT '',
    updated_by         TEXT NOT NULL DEFAULT '',
    deleted_at         DATETIME,
    name               TEXT NOT NULL DEFAULT '',
    kind               TEXT NOT NULL DEFAULT '',
    email              TEXT NOT NULL DEFAULT '',
    phone              TEXT NOT NULL DEFAULT '',
    commission_basis_p INTEGER NOT NULL DEFAULT 0,
    active             BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX partners_org_version_idx ON partners (org_id, version);

CREATE TABLE referrals (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    version              INTEGER NOT NULL,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL,
    created_by           TEXT NOT NULL DEFAULT '',
    updated_by           TEXT NOT NULL DEFAULT '',
    lead_id              TEXT NOT NULL DEFAULT '',
    partner_id           TEXT NOT NULL DEFAULT '',
    referrer_customer_id TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL DEFAULT '',
    commission_cents     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX referrals_org_version_idx ON referrals (org_id, version);
CREATE INDEX referrals_org_lead_idx ON referrals (org_id, lead_id);
CREATE INDEX referrals_org_partner_idx ON referrals (org_id, partner_id);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    version          INTEGER NOT NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    created_by       TEXT NOT NULL DEFAULT '',
    updated_by       TEXT NOT NULL DEFAULT '',
    lead_id          TEXT NOT NULL DEFAULT '',
    recipient_id     TEXT NOT NULL DEFAULT '',
    level            INTEGER NOT NULL DEFAULT 0,
    escalated_at     DATETIME,
    acknowledged_at  DATETIME,
    acknowledged_by  TEXT NOT NULL DEFAULT '',
    responded_at     DATETIME,
    response_seconds INTEGER
);
CREATE INDEX alerts_org_version_idx ON alerts (org_id, version);
CREATE INDEX alerts_org_lead_idx ON alerts (org_id, lead_id);
CREATE INDEX alerts_org_recipient_idx ON alerts (org_id, recipient_id);

CREATE TABLE campaign_enrollments (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations (id),
    version        INTEGER NOT NULL,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    created_by     TEXT NOT NULL DEFAULT '',
    updated_by     TEXT NOT NULL DEFAULT '',
    campaign       TEXT NOT NULL DEFAULT '',
    lead_id        TEXT NOT NULL DEFAULT '',
    customer_id    TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT '',
    stopped_reason TEXT NOT NULL DEFAULT '',
    enrolled_at    DATETIME NOT NULL,
    stopped_at     DATETIME
);
CREATE INDEX campaign_enrollments_org_version_idx ON campaign_enrollments (org_id, version);
CREATE INDEX campaign_enrollments_org_lead_idx ON campaign_enrollments (org_id, lead_id);
CREATE INDEX campaign_enrollments_org_customer_idx ON campaign_enrollments (org_id, customer_id);

CREATE TABLE campaign_touches (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    version       INTEGER NOT NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
    created_by    TEXT NOT NULL DEFAULT '',
    updated_by    TEXT NOT NULL DEFAULT '',
    enrollment_id TEXT NOT NULL DEFAULT '',
    step          INTEGER NOT NULL DEFAULT 0,
    channel       TEXT NOT NULL DEFAULT '',
    due_at        DATETIME NOT NULL,
    sent_at       DATETIME,
    status        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX campaign_touches_org_version_idx ON campaign_touches (org_id, version);
CREATE INDEX campaign_touches_org_enrollment_idx ON campaign_touches (org_id, enrollment_id);
-- The campaign scheduler looks for due, unsent touches across organizations.
CREATE INDEX campaign_touches_due_idx ON campaign_touches (due_at) WHERE sent_at IS NULL;

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    version    INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    user_id    TEXT NOT NULL DEFAULT '',
    channel    TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL DEFAULT '',
    title      TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL DEFAULT '',
    ref_kind   TEXT NOT NULL DEFAULT '',
    ref_id     TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL DEFAULT '',
    sent_at    DATETIME,
    error_msg  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notifications_org_version_idx ON notifications (org_id, version);
CREATE INDEX notifications_org_user_idx ON notifications (org_id, user_id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    user_id    TEXT NOT NULL,
    family_id  TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME,
    revoked_at DATETIME,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    -- A token's user must belong to the token's organization; removing a
    -- user removes their sessions.
    CONSTRAINT refresh_tokens_user_id_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_org_user_idx ON refresh_tokens (org_id, user_id);

-- The change log: one row per record a transaction touched, at the
-- organization sequence number the transaction committed as. Pull reads it
-- in (seq, entity_kind, entity_id) order, which is the primary key.
CREATE TABLE changes (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    seq         INTEGER NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    actor_id    TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (org_id, seq, entity_kind, entity_id)
);
-- Pruning past the history horizon goes by age.
CREATE INDEX changes_created_idx ON changes (created_at);

-- The transactional outbox: side effects committed with the data change and
-- relayed to the job queue afterwards, with the row id as the task id.
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    kind         TEXT NOT NULL,
    payload      BLOB NOT NULL,
    created_at   DATETIME NOT NULL,
    available_at DATETIME NOT NULL,
    relayed_at   DATETIME,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending_idx ON outbox (available_at, id) WHERE relayed_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE changes;
DROP TABLE refresh_tokens;
DROP TABLE notifications;
DROP TABLE campaign_touches;
DROP TABLE campaign_enrollments;
DROP TABLE alerts;
DROP TABLE referrals;
DROP TABLE partners;
DROP TABLE reviews;
DROP TABLE photos;
DROP TABLE appointments;
DROP TABLE interactions;
DROP TABLE projects;
DROP TABLE customers;
DROP TABLE leads;
DROP TABLE devices;
DROP TABLE users;
DROP TABLE organizations;
