-- Sync, SQLite edition of migrations/postgres/00002_sync.sql: the same
-- statements with SQLite's types. The change log is rebuilt rather than
-- altered because SQLite cannot change a primary key in place; PostgreSQL
-- rebuilds it the same way so that the two files stay one schema.

-- +goose Up
ALTER TABLE organizations ADD COLUMN sync_epoch TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN history_floor INTEGER NOT NULL DEFAULT 0;
UPDATE organizations SET history_floor = change_seq;

CREATE TABLE changes_v1 AS SELECT * FROM changes;
DROP TABLE changes;
CREATE TABLE changes (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    seq             INTEGER NOT NULL,
    entity_kind     TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    target_user     TEXT NOT NULL DEFAULT '',
    op              TEXT NOT NULL CHECK (op IN ('upsert', 'delete', 'grant', 'revoke')),
    actor_id        TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL DEFAULT 0,
    payload         TEXT,
    lead_owner      TEXT NOT NULL DEFAULT '',
    project_tech    TEXT NOT NULL DEFAULT '',
    assignee        TEXT NOT NULL DEFAULT '',
    origin_client   TEXT NOT NULL DEFAULT '',
    origin_mutation INTEGER NOT NULL DEFAULT 0,
    echo_only       BOOLEAN NOT NULL DEFAULT 0,
    created_at      DATETIME NOT NULL,
    PRIMARY KEY (org_id, seq, entity_kind, entity_id, target_user)
);
INSERT INTO changes (org_id, seq, entity_kind, entity_id, op, actor_id, version, created_at)
    SELECT org_id, seq, entity_kind, entity_id, op, actor_id, seq, created_at FROM changes_v1;
DROP TABLE changes_v1;
CREATE INDEX changes_org_target_seq_idx ON changes (org_id, target_user, seq);
CREATE INDEX changes_org_entity_seq_idx ON changes (org_id, entity_kind, entity_id, seq);
CREATE INDEX changes_org_created_idx ON changes (org_id, created_at);

ALTER TABLE users ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN scope_lead_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN scope_project_tech TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN scope_assignee TEXT NOT NULL DEFAULT '';
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

CREATE TABLE sync_clients (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    user_id          TEXT NOT NULL,
    platform         TEXT NOT NULL DEFAULT '',
    app_version      TEXT NOT NULL DEFAULT '',
    schema_version   INTEGER NOT NULL DEFAULT 0,
    last_mutation_id INTEGER NOT NULL DEFAULT 0,
    role             TEXT NOT NULL DEFAULT '',
    cursor           TEXT NOT NULL DEFAULT '',
    last_pull_at     DATETIME,
    last_push_at     DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    CONSTRAINT sync_clients_user_id_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_clients_org_user_idx ON sync_clients (org_id, user_id);

CREATE TABLE sync_outcomes (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    client_id   TEXT NOT NULL,
    mutation_id INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('rejected', 'conflict')),
    name        TEXT NOT NULL DEFAULT '',
    code        TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    details     TEXT,
    created_at  DATETIME NOT NULL,
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
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    seq         INTEGER NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    actor_id    TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (org_id, seq, entity_kind, entity_id)
);
INSERT INTO changes (org_id, seq, entity_kind, entity_id, op, actor_id, created_at)
    SELECT org_id, seq, entity_kind, entity_id, op, actor_id, created_at FROM changes_v2;
DROP TABLE changes_v2;
CREATE INDEX changes_created_idx ON changes (created_at);
ALTER TABLE organizations DROP COLUMN history_floor;
ALTER TABLE organizations DROP COLUMN sync_epoch;
