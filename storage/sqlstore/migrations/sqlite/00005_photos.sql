-- Photos, SQLite edition of migrations/postgres/00005_photos.sql.

-- +goose Up
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    photo_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    length      INTEGER NOT NULL CHECK (length > 0),
    "offset"    INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT NOT NULL,
    parts       TEXT NOT NULL DEFAULT '[]',
    hash_state  BLOB,
    content     TEXT NOT NULL DEFAULT '',
    complete    BOOLEAN NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX uploads_org_photo_idx ON uploads (org_id, photo_id);
CREATE INDEX uploads_expires_idx ON uploads (complete, expires_at);

-- +goose Down
DROP TABLE uploads;
