-- The (org_id, version) index of every synced table served the first
-- sync protocol, which read records changed since a version. Pulls read
-- the change log now, and nothing else looks rows up by version; yet every
-- write changes a row's version, so the index made every UPDATE write an
-- entry into each of the table's indexes (no heap-only update possible)
-- for nothing. Dropping it lets an update that changes no indexed column
-- stay on its page and touch no index.

-- +goose Up
DROP INDEX IF EXISTS users_org_version_idx;
DROP INDEX IF EXISTS devices_org_version_idx;
DROP INDEX IF EXISTS leads_org_version_idx;
DROP INDEX IF EXISTS customers_org_version_idx;
DROP INDEX IF EXISTS projects_org_version_idx;
DROP INDEX IF EXISTS interactions_org_version_idx;
DROP INDEX IF EXISTS appointments_org_version_idx;
DROP INDEX IF EXISTS photos_org_version_idx;
DROP INDEX IF EXISTS reviews_org_version_idx;
DROP INDEX IF EXISTS partners_org_version_idx;
DROP INDEX IF EXISTS referrals_org_version_idx;
DROP INDEX IF EXISTS alerts_org_version_idx;
DROP INDEX IF EXISTS campaign_enrollments_org_version_idx;
DROP INDEX IF EXISTS campaign_touches_org_version_idx;
DROP INDEX IF EXISTS notifications_org_version_idx;

-- +goose Down
CREATE INDEX users_org_version_idx ON users (org_id, version);
CREATE INDEX devices_org_version_idx ON devices (org_id, version);
CREATE INDEX leads_org_version_idx ON leads (org_id, version);
CREATE INDEX customers_org_version_idx ON customers (org_id, version);
CREATE INDEX projects_org_version_idx ON projects (org_id, version);
CREATE INDEX interactions_org_version_idx ON interactions (org_id, version);
CREATE INDEX appointments_org_version_idx ON appointments (org_id, version);
CREATE INDEX photos_org_version_idx ON photos (org_id, version);
CREATE INDEX reviews_org_version_idx ON reviews (org_id, version);
CREATE INDEX partners_org_version_idx ON partners (org_id, version);
CREATE INDEX referrals_org_version_idx ON referrals (org_id, version);
CREATE INDEX alerts_org_version_idx ON alerts (org_id, version);
CREATE INDEX campaign_enrollments_org_version_idx ON campaign_enrollments (org_id, version);
CREATE INDEX campaign_touches_org_version_idx ON campaign_touches (org_id, version);
CREATE INDEX notifications_org_version_idx ON notifications (org_id, version);
