-- The initial schema. Column names are the ones GORM's default naming
-- strategy derives from the structs in domain/entity.go, so the domain types
-- are the models; a test compares every table with its struct.
--
-- Conventions: ids are text UUIDs chosen by the creator (phones create rows
-- offline); every organization-owned table carries org_id and the sync
-- version (the organization's change sequence of the last write); optional
-- references are '' rather than NULL because the domain uses plain strings,
-- which is also why they carry no foreign keys.

-- +goose Up
CREATE TABLE organizations (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    slug        text NOT NULL,
    time_zone   text NOT NULL DEFAULT '',
    settings    jsonb,
    change_seq  bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id              text PRIMARY KEY,
    org_id          text NOT NULL REFERENCES organizations (id),
    version         bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    created_by      text NOT NULL DEFAULT '',
    updated_by      text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    name            text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    role            text NOT NULL DEFAULT '',
    escalation_tier text NOT NULL DEFAULT '',
    territories     jsonb,
    skills          jsonb,
    top_performer   boolean NOT NULL DEFAULT false,
    active          boolean NOT NULL DEFAULT false,
    password_hash   text NOT NULL DEFAULT ''
);
-- The write path stores emails lowercased, so a plain unique index makes
-- them unique case-insensitively (an email signs in to exactly one user).
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email <> '';
-- The target of refresh_tokens' (org_id, user_id) foreign key.
CREATE UNIQUE INDEX users_org_id_id_key ON users (org_id, id);
CREATE INDEX users_org_version_idx ON users (org_id, version);
CREATE INDEX users_org_role_idx ON users (org_id, role);

CREATE TABLE devices (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES organizations (id),
    version      bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    updated_by   text NOT NULL DEFAULT '',
    user_id      text NOT NULL DEFAULT '',
    platform     text NOT NULL DEFAULT '',
    push_token   text NOT NULL DEFAULT '',
    app_version  text NOT NULL DEFAULT '',
    last_seen_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX devices_org_version_idx ON devices (org_id, version);
CREATE INDEX devices_org_user_idx ON devices (org_id, user_id);

CREATE TABLE leads (
    id                text PRIMARY KEY,
    org_id            text NOT NULL REFERENCES organizations (id),
    version           bigint NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    created_by        text NOT NULL DEFAULT '',
    updated_by        text NOT NULL DEFAULT '',
    deleted_at        timestamptz,
    external_id       text NOT NULL DEFAULT '',
    source            text NOT NULL DEFAULT '',
    first_name        text NOT NULL DEFAULT '',
    last_name         text NOT NULL DEFAULT '',
    email             text NOT NULL DEFAULT '',
    phone             text NOT NULL DEFAULT '',
    street            text NOT NULL DEFAULT '',
    city              text NOT NULL DEFAULT '',
    state             text NOT NULL DEFAULT '',
    zip               text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT '',
    assigned_to       text NOT NULL DEFAULT '',
    routing_rule      text NOT NULL DEFAULT '',
    white_glove       boolean NOT NULL DEFAULT false,
    lost_reason       text NOT NULL DEFAULT '',
    notes             text NOT NULL DEFAULT '',
    customer_id       text NOT NULL DEFAULT '',
    property_value    bigint NOT NULL DEFAULT 0,
    income            bigint NOT NULL DEFAULT 0,
    engagement        text NOT NULL DEFAULT '',
    response_minutes  bigint,
    interaction_count bigint NOT NULL DEFAULT 0,
    budget            text NOT NULL DEFAULT '',
    authority         text NOT NULL DEFAULT '',
    need              text NOT NULL DEFAULT '',
    timeline          text NOT NULL DEFAULT '',
    score             bigint NOT NULL DEFAULT 0,
    temperature       text NOT NULL DEFAULT '',
    score_breakdown   jsonb
);
CREATE INDEX leads_org_version_idx ON leads (org_id, version);
CREATE INDEX leads_org_assigned_idx ON leads (org_id, assigned_to);
CREATE INDEX leads_org_status_idx ON leads (org_id, status);
CREATE INDEX leads_org_created_idx ON leads (org_id, created_at);
CREATE INDEX leads_org_external_idx ON leads (org_id, external_id) WHERE external_id <> '';

CREATE TABLE customers (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES organizations (id),
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    created_by    text NOT NULL DEFAULT '',
    updated_by    text NOT NULL DEFAULT '',
    deleted_at    timestamptz,
    lead_id       text NOT NULL DEFAULT '',
    owner_id      text NOT NULL DEFAULT '',
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    phone         text NOT NULL DEFAULT '',
    street        text NOT NULL DEFAULT '',
    city          text NOT NULL DEFAULT '',
    state         text NOT NULL DEFAULT '',
    zip           text NOT NULL DEFAULT '',
    sms_opt_out   boolean NOT NULL DEFAULT false,
    email_opt_out boolean NOT NULL DEFAULT false,
    notes         text NOT NULL DEFAULT ''
);
CREATE INDEX customers_org_version_idx ON customers (org_id, version);
CREATE INDEX customers_org_lead_idx ON customers (org_id, lead_id);
CREATE INDEX customers_org_owner_idx ON customers (org_id, owner_id);

CREATE TABLE projects (
    id             text PRIMARY KEY,
    org_id         text NOT NULL REFERENCES organizations (id),
    version        bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    created_by     text NOT NULL DEFAULT '',
    updated_by     text NOT NULL DEFAULT '',
    deleted_at     timestamptz,
    customer_id    text NOT NULL DEFAULT '',
    lead_id        text NOT NULL DEFAULT '',
    name           text NOT NULL DEFAULT '',
    type           text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT '',
    sales_rep_id   text NOT NULL DEFAULT '',
    assigned_tech  text NOT NULL DEFAULT '',
    quote_cents    bigint NOT NULL DEFAULT 0,
    contract_cents bigint NOT NULL DEFAULT 0,
    street         text NOT NULL DEFAULT '',
    city           text NOT NULL DEFAULT '',
    state          text NOT NULL DEFAULT '',
    zip            text NOT NULL DEFAULT '',
    scheduled_for  timestamptz,
    completed_at   timestamptz,
    notes          text NOT NULL DEFAULT ''
);
CREATE INDEX projects_org_version_idx ON projects (org_id, version);
CREATE INDEX projects_org_tech_idx ON projects (org_id, assigned_tech);
CREATE INDEX projects_org_lead_idx ON projects (org_id, lead_id);
CREATE INDEX projects_org_customer_idx ON projects (org_id, customer_id);
CREATE INDEX projects_org_status_idx ON projects (org_id, status);

CREATE TABLE interactions (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations (id),
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    created_by       text NOT NULL DEFAULT '',
    updated_by       text NOT NULL DEFAULT '',
    deleted_at       timestamptz,
    lead_id          text NOT NULL DEFAULT '',
    customer_id      text NOT NULL DEFAULT '',
    project_id       text NOT NULL DEFAULT '',
    user_id          text NOT NULL DEFAULT '',
    kind             text NOT NULL DEFAULT '',
    direction        text NOT NULL DEFAULT '',
    subject          text NOT NULL DEFAULT '',
    body             text NOT NULL DEFAULT '',
    occurred_at      timestamptz NOT NULL,
    duration_seconds bigint NOT NULL DEFAULT 0
);
CREATE INDEX interactions_org_version_idx ON interactions (org_id, version);
CREATE INDEX interactions_org_lead_idx ON interactions (org_id, lead_id);
CREATE INDEX interactions_org_project_idx ON interactions (org_id, project_id);
CREATE INDEX interactions_org_user_idx ON interactions (org_id, user_id, occurred_at);

CREATE TABLE appointments (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations (id),
    version     bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    updated_by  text NOT NULL DEFAULT '',
    deleted_at  timestamptz,
    lead_id     text NOT NULL DEFAULT '',
    customer_id text NOT NULL DEFAULT '',
    project_id  text NOT NULL DEFAULT '',
    assigned_to text NOT NULL DEFAULT '',
    kind        text NOT NULL DEFAULT '',
    title       text NOT NULL DEFAULT '',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    status      text NOT NULL DEFAULT '',
    location    text NOT NULL DEFAULT '',
    notes       text NOT NULL DEFAULT ''
);
CREATE INDEX appointments_org_version_idx ON appointments (org_id, version);
CREATE INDEX appointments_org_assigned_starts_idx ON appointments (org_id, assigned_to, starts_at);
CREATE INDEX appointments_org_lead_idx ON appointments (org_id, lead_id);
CREATE INDEX appointments_org_project_idx ON appointments (org_id, project_id);
-- Reminders are scheduled across organizations by start time.
CREATE INDEX appointments_starts_idx ON appointments (starts_at) WHERE deleted_at IS NULL;

CREATE TABLE photos (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations (id),
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    created_by       text NOT NULL DEFAULT '',
    updated_by       text NOT NULL DEFAULT '',
    deleted_at       timestamptz,
    project_id       text NOT NULL DEFAULT '',
    appointment_id   text NOT NULL DEFAULT '',
    taken_by         text NOT NULL DEFAULT '',
    kind             text NOT NULL DEFAULT '',
    caption          text NOT NULL DEFAULT '',
    taken_at         timestamptz NOT NULL,
    latitude         double precision,
    longitude        double precision,
    sha256           text NOT NULL DEFAULT '',
    byte_size        bigint NOT NULL DEFAULT 0,
    content_type     text NOT NULL DEFAULT '',
    width            bigint NOT NULL DEFAULT 0,
    height           bigint NOT NULL DEFAULT 0,
    upload_state     text NOT NULL DEFAULT '',
    processing_state text NOT NULL DEFAULT '',
    failure_reason   text NOT NULL DEFAULT '',
    original_key     text NOT NULL DEFAULT '',
    thumb_key        text NOT NULL DEFAULT '',
    screen_key       text NOT NULL DEFAULT ''
);
CREATE INDEX photos_org_version_idx ON photos (org_id, version);
CREATE INDEX photos_org_project_idx ON photos (org_id, project_id);
-- Uploads are deduplicated by content hash.
CREATE INDEX photos_org_sha256_idx ON photos (org_id, sha256);

CREATE TABLE reviews (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES organizations (id),
    version      bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    updated_by   text NOT NULL DEFAULT '',
    customer_id  text NOT NULL DEFAULT '',
    project_id   text NOT NULL DEFAULT '',
    platform     text NOT NULL DEFAULT '',
    rating       bigint NOT NULL DEFAULT 0,
    body         text NOT NULL DEFAULT '',
    reviewed_at  timestamptz NOT NULL,
    response     text NOT NULL DEFAULT '',
    responded_at timestamptz
);
CREATE INDEX reviews_org_version_idx ON reviews (org_id, version);
CREATE INDEX reviews_org_customer_idx ON reviews (org_id, customer_id);
CREATE INDEX reviews_org_project_idx ON reviews (org_id, project_id);

CREATE TABLE partners (
    id                 text PRIMARY KEY,
    org_id             text NOT NULL REFERENCES organizations (id),
    version            bigint NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    created_by         text NOT NULL DEFAULT '',
    updated_by         text NOT NULL DEFAULT '',
    deleted_at         timestamptz,
    name               text NOT NULL DEFAULT '',
    kind               text NOT NULL DEFAULT '',
    email              text NOT NULL DEFAULT '',
    phone              text NOT NULL DEFAULT '',
    commission_basis_p bigint NOT NULL DEFAULT 0,
    active             boolean NOT NULL DEFAULT false
);
CREATE INDEX partners_org_version_idx ON partners (org_id, version);

CREATE TABLE referrals (
    id                   text PRIMARY KEY,
    org_id               text NOT NULL REFERENCES organizations (id),
    version              bigint NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    created_by           text NOT NULL DEFAULT '',
    updated_by           text NOT NULL DEFAULT '',
    lead_id              text NOT NULL DEFAULT '',
    partner_id           text NOT NULL DEFAULT '',
    referrer_customer_id text NOT NULL DEFAULT '',
    status               text NOT NULL DEFAULT '',
    commission_cents     bigint NOT NULL DEFAULT 0
);
CREATE INDEX referrals_org_version_idx ON referrals (org_id, version);
CREATE INDEX referrals_org_lead_idx ON referrals (org_id, lead_id);
CREATE INDEX referrals_org_partner_idx ON referrals (org_id, partner_id);

CREATE TABLE alerts (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations (id),
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    created_by       text NOT NULL DEFAULT '',
    updated_by       text NOT NULL DEFAULT '',
    lead_id          text NOT NULL DEFAULT '',
    recipient_id     text NOT NULL DEFAULT '',
    level            bigint NOT NULL DEFAULT 0,
    escalated_at     timestamptz,
    acknowledged_at  timestamptz,
    acknowledged_by  text NOT NULL DEFAULT '',
    responded_at     timestamptz,
    response_seconds bigint
);
CREATE INDEX alerts_org_version_idx ON alerts (org_id, version);
CREATE INDEX alerts_org_lead_idx ON alerts (org_id, lead_id);
CREATE INDEX alerts_org_recipient_idx ON alerts (org_id, recipient_id);

CREATE TABLE campaign_enrollments (
    id             text PRIMARY KEY,
    org_id         text NOT NULL REFERENCES organizations (id),
    version        bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    created_by     text NOT NULL DEFAULT '',
    updated_by     text NOT NULL DEFAULT '',
    campaign       text NOT NULL DEFAULT '',
    lead_id        text NOT NULL DEFAULT '',
    customer_id    text NOT NULL DEFAULT '',
    state          text NOT NULL DEFAULT '',
    stopped_reason text NOT NULL DEFAULT '',
    enrolled_at    timestamptz NOT NULL,
    stopped_at     timestamptz
);
CREATE INDEX campaign_enrollments_org_version_idx ON campaign_enrollments (org_id, version);
CREATE INDEX campaign_enrollments_org_lead_idx ON campaign_enrollments (org_id, lead_id);
CREATE INDEX campaign_enrollments_org_customer_idx ON campaign_enrollments (org_id, customer_id);

CREATE TABLE campaign_touches (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES organizations (id),
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    created_by    text NOT NULL DEFAULT '',
    updated_by    text NOT NULL DEFAULT '',
    enrollment_id text NOT NULL DEFAULT '',
    step          bigint NOT NULL DEFAULT 0,
    channel       text NOT NULL DEFAULT '',
    due_at        timestamptz NOT NULL,
    sent_at       timestamptz,
    status        text NOT NULL DEFAULT ''
);
CREATE INDEX campaign_touches_org_version_idx ON campaign_touches (org_id, version);
CREATE INDEX campaign_touches_org_enrollment_idx ON campaign_touches (org_id, enrollment_id);
-- The campaign scheduler looks for due, unsent touches across organizations.
CREATE INDEX campaign_touches_due_idx ON campaign_touches (due_at) WHERE sent_at IS NULL;

CREATE TABLE notifications (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    version    bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_by text NOT NULL DEFAULT '',
    updated_by text NOT NULL DEFAULT '',
    user_id    text NOT NULL DEFAULT '',
    channel    text NOT NULL DEFAULT '',
    kind       text NOT NULL DEFAULT '',
    title      text NOT NULL DEFAULT '',
    body       text NOT NULL DEFAULT '',
    ref_kind   text NOT NULL DEFAULT '',
    ref_id     text NOT NULL DEFAULT '',
    status     text NOT NULL DEFAULT '',
    sent_at    timestamptz,
    error_msg  text NOT NULL DEFAULT ''
);
CREATE INDEX notifications_org_version_idx ON notifications (org_id, version);
CREATE INDEX notifications_org_user_idx ON notifications (org_id, user_id);

CREATE TABLE refresh_tokens (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    user_id    text NOT NULL,
    family_id  text NOT NULL,
    token_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
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
    org_id      text NOT NULL REFERENCES organizations (id),
    seq         bigint NOT NULL,
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    op          text NOT NULL CHECK (op IN ('upsert', 'delete')),
    actor_id    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, seq, entity_kind, entity_id)
);
-- Pruning past the history horizon goes by age.
CREATE INDEX changes_created_idx ON changes (created_at);

-- The transactional outbox: side effects committed with the data change and
-- relayed to the job queue afterwards, with the row id as the task id.
CREATE TABLE outbox (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES organizations (id),
    kind         text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz NOT NULL,
    relayed_at   timestamptz,
    attempts     bigint NOT NULL DEFAULT 0
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
