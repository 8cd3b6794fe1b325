-- Sync: what pulls need from the database. The change log records each
-- change with the record's version and JSON as of the change, the anchor it
-- had (who could see it), grants and revokes aimed at one user when access
-- moves, and the device mutation that caused it. Each synced record keeps
-- its current anchor in scope_ columns (not in the domain structs), so that
-- scope queries need no joins. Organizations gain the epoch cursors are
-- checked against and the floor below which history is gone; devices get
-- their sync state and the outcomes of their mutations.
--
-- Rows written before this migration get their epoch and scope columns from
-- the Go migration that follows it (backfill.go), which resolves anchors
-- with the write path's own code.

-- +goose Up
ALTER TABLE organizations ADD COLUMN sync_epoch text NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN history_floor bigint NOT NULL DEFAULT 0;
-- Changes logged before now carry no record state, so no pull can be
-- served from them: a cursor below the floor gets a snapshot instead.
UPDATE organizations SET history_floor = change_seq;

-- The primary key gains target_user (a grant and a revoke aim at one user
-- each); SQLite can only do that by rebuilding the table.
CREATE TABLE changes_v1 AS SELECT * FROM changes;
DROP TABLE changes;
-- One row per record a transaction touched, plus one per user whose access
-- to a record the transaction granted or revoked (target_user set, anchor
-- columns as after the change). version is the record's version after the
-- change; payload its JSON for upsert and grant, NULL for delete and revoke.
CREATE TABLE changes (
    org_id          text NOT NULL REFERENCES organizations (id),
    seq             bigint NOT NULL,
    entity_kind     text NOT NULL,
    entity_id       text NOT NULL,
    target_user     text NOT NULL DEFAULT '',
    op              text NOT NULL CHECK (op IN ('upsert', 'delete', 'grant', 'revoke')),
    actor_id        text NOT NULL DEFAULT '',
    version         bigint NOT NULL DEFAULT 0,
    payload         jsonb,
    lead_owner      text NOT NULL DEFAULT '',
    project_tech    text NOT NULL DEFAULT '',
    assignee        text NOT NULL DEFAULT '',
    origin_client   text NOT NULL DEFAULT '',
    origin_mutation bigint NOT NULL DEFAULT 0,
    echo_only       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, seq, entity_kind, entity_id, target_user)
);
INSERT INTO changes (org_id, seq, entity_kind, entity_id, op, actor_id, version, created_at)
    SELECT org_id, seq, entity_kind, entity_id, op, actor_id, seq, created_at FROM changes_v1;
DROP TABLE changes_v1;
-- Pulls read by (org_id, seq) through the primary key; these serve the
-- grants and revokes aimed at one user, a record's history (StateAt) and
-- pruning by age.
CREATE INDEX changes_org_target_seq_idx ON changes (org_id, target_user, seq);
CREATE INDEX changes_org_entity_seq_idx ON changes (org_id, entity_kind, entity_id, seq);
CREATE INDEX changes_org_created_idx ON changes (org_id, created_at);

-- Each synced record's current anchor. Users need no index: every member
-- sees the whole team.
ALTER TABLE users ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN scope_lead_owner text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN scope_project_tech text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN scope_assignee text NOT NULL DEFAULT '';
CREATE INDEX leads_org_scope_lead_owner_idx ON leads (org_id, scope_lead_owner);
CREATE INDEX leads_org_scope_project_tech_idx ON leads (org_id, scope_project_tech);
CREATE INDEX leads_org_scope_assignee_idx ON leads (org_id, scope_assignee);
CREATE INDEX customers_org_scope_lead_owner_idx ON customers (org_id, scope_lead_owner);
CREATE INDEX customers_org_scope_project_tech_idx ON customers (org_id, scope_project_tech);
CREATE INDEX customers_org_scope_assignee_idx ON customers (org_id, scope_assignee);
CREATE INDEX projects_org_scope_lead_owner_idx ON projects (org_id, scope_lead_owner);
CREATE INDEX projects_org_scope_project_tech_idx ON projects (org_id, scope_project_tech);
CREATE INDEX projects_org_scope_assignee_idx ON projects (org_id, scope_assignee);
CREATE INDEX appointments_org_scope_lead_owner_idx ON appointments (org_id, scope_lead_owner);
CREATE INDEX appointments_org_scope_project_tech_idx ON appointments (org_id, scope_project_tech);
CREATE INDEX appointments_org_scope_assignee_idx ON appointments (org_id, scope_assignee);
CREATE INDEX interactions_org_scope_lead_owner_idx ON interactions (org_id, scope_lead_owner);
CREATE INDEX interactions_org_scope_project_tech_idx ON interactions (org_id, scope_project_tech);
CREATE INDEX interactions_org_scope_assignee_idx ON interactions (org_id, scope_assignee);
CREATE INDEX photos_org_scope_lead_owner_idx ON photos (org_id, scope_lead_owner);
CREATE INDEX photos_org_scope_project_tech_idx ON photos (org_id, scope_project_tech);
CREATE INDEX photos_org_scope_assignee_idx ON photos (org_id, scope_assignee);
CREATE INDEX alerts_org_scope_lead_owner_idx ON alerts (org_id, scope_lead_owner);
CREATE INDEX alerts_org_scope_project_tech_idx ON alerts (org_id, scope_project_tech);
CREATE INDEX alerts_org_scope_assignee_idx ON alerts (org_id, scope_assignee);

-- A device's sync state; id is the client_id the phone generated. Removing
-- a user removes their devices' state.
CREATE TABLE sync_clients (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations (id),
    user_id          text NOT NULL,
    platform         text NOT NULL DEFAULT '',
    app_version      text NOT NULL DEFAULT '',
    schema_version   bigint NOT NULL DEFAULT 0,
    last_mutation_id bigint NOT NULL DEFAULT 0,
    role             text NOT NULL DEFAULT '',
    cursor           text NOT NULL DEFAULT '',
    last_pull_at     timestamptz,
    last_push_at     timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT sync_clients_user_id_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_clients_org_user_idx ON sync_clients (org_id, user_id);

-- Rejections and conflicts a device is told about on its next pulls.
CREATE TABLE sync_outcomes (
    org_id      text NOT NULL REFERENCES organizations (id),
    client_id   text NOT NULL,
    mutation_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('rejected', 'conflict')),
    name        text NOT NULL DEFAULT '',
    code        text NOT NULL DEFAULT '',
    message     text NOT NULL DEFAULT '',
    details     jsonb,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, client_id, mutation_id, kind)
);
CREATE INDEX sync_outcomes_org_created_idx ON sync_outcomes (org_id, created_at);

-- +goose Down
DROP TABLE sync_outcomes;
DROP TABLE sync_clients;
DROP INDEX leads_org_scope_lead_owner_idx;
DROP INDEX leads_org_scope_project_tech_idx;
DROP INDEX leads_org_scope_assignee_idx;
DROP INDEX customers_org_scope_lead_owner_idx;
DROP INDEX customers_org_scope_project_tech_idx;
DROP INDEX customers_org_scope_assignee_idx;
DROP INDEX projects_org_scope_lead_owner_idx;
DROP INDEX projects_org_scope_project_tech_idx;
DROP INDEX projects_org_scope_assignee_idx;
DROP INDEX appointments_org_scope_lead_owner_idx;
DROP INDEX appointments_org_scope_project_tech_idx;
DROP INDEX appointments_org_scope_assignee_idx;
DROP INDEX interactions_org_scope_lead_owner_idx;
DROP INDEX interactions_org_scope_project_tech_idx;
DROP INDEX interactions_org_scope_assignee_idx;
DROP INDEX photos_org_scope_lead_owner_idx;
DROP INDEX photos_org_scope_project_tech_idx;
DROP INDEX photos_org_scope_assignee_idx;
DROP INDEX alerts_org_scope_lead_owner_idx;
DROP INDEX alerts_org_scope_project_tech_idx;
DROP INDEX alerts_org_scope_assignee_idx;
ALTER TABLE users DROP COLUMN scope_lead_owner;
ALTER TABLE users DROP COLUMN scope_project_tech;
ALTER TABLE users DROP COLUMN scope_assignee;
ALTER TABLE leads DROP COLUMN scope_lead_owner;
ALTER TABLE leads DROP COLUMN scope_project_tech;
ALTER TABLE leads DROP COLUMN scope_assignee;
ALTER TABLE customers DROP COLUMN scope_lead_owner;
ALTER TABLE customers DROP COLUMN scope_project_tech;
ALTER TABLE customers DROP COLUMN scope_assignee;
ALTER TABLE projects DROP COLUMN scope_lead_owner;
ALTER TABLE projects DROP COLUMN scope_project_tech;
ALTER TABLE projects DROP COLUMN scope_assignee;
ALTER TABLE appointments DROP COLUMN scope_lead_owner;
ALTER TABLE appointments DROP COLUMN scope_project_tech;
ALTER TABLE appointments DROP COLUMN scope_assignee;
ALTER TABLE interactions DROP COLUMN scope_lead_owner;
ALTER TABLE interactions DROP COLUMN scope_project_tech;
ALTER TABLE interactions DROP COLUMN scope_assignee;
ALTER TABLE photos DROP COLUMN scope_lead_owner;
ALTER TABLE photos DROP COLUMN scope_project_tech;
ALTER TABLE photos DROP COLUMN scope_assignee;
ALTER TABLE alerts DROP COLUMN scope_lead_owner;
ALTER TABLE alerts DROP COLUMN scope_project_tech;
ALTER TABLE alerts DROP COLUMN scope_assignee;
CREATE TABLE changes_v2 AS SELECT * FROM changes WHERE op IN ('upsert', 'delete') AND target_user = '';
DROP TABLE changes;
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
INSERT INTO changes (org_id, seq, entity_kind, entity_id, op, actor_id, created_at)
    SELECT org_id, seq, entity_kind, entity_id, op, actor_id, created_at FROM changes_v2;
DROP TABLE changes_v2;
CREATE INDEX changes_created_idx ON changes (created_at);
ALTER TABLE organizations DROP COLUMN history_floor;
ALTER TABLE organizations DROP COLUMN sync_epoch;
