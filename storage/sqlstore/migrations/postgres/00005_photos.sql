-- Photos: resumable (tus) uploads. The bytes live in the blob store as parts
-- under uploads/<org>/<id>/; this row is the state every server replica
-- shares: how far the upload got, which parts hold its bytes, and the
-- running SHA-256 over them (so the last request, on any replica, knows the
-- content hash without reading the bytes again).

-- +goose Up
CREATE TABLE uploads (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations (id),
    photo_id    text NOT NULL,
    user_id     text NOT NULL,
    length      bigint NOT NULL CHECK (length > 0),
    "offset"    bigint NOT NULL DEFAULT 0,
    sha256      text NOT NULL,
    parts       text NOT NULL DEFAULT '[]',
    hash_state  bytea,
    content     text NOT NULL DEFAULT '',
    complete    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX uploads_org_photo_idx ON uploads (org_id, photo_id);
CREATE INDEX uploads_expires_idx ON uploads (complete, expires_at);

-- +goose Down
DROP TABLE uploads;
