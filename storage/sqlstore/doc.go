// Package sqlstore is fieldsync's data adapter: domain.Store on GORM, with
// PostgreSQL in production and SQLite (pure Go, no cgo) as the embedded
// default for `fieldsync dev`.
//
// The domain structs are the GORM models, so their field names decide the
// column names (GORM's default naming); the versioned migrations in
// migrations/<dialect> create exactly those columns, and the conformance
// suite checks that every table matches its struct on both databases.
//
// Every write to a synced record goes through Store.Write, the one write
// path. It takes the organization's next change sequence under the
// organization row's lock, stamps every row it writes with that number as its
// version, records one change-log row per record and commits outbox rows with
// the data. Because the lock is held until commit, an organization's
// sequence numbers commit in order, which is what lets a pull cursor be a
// plain "seq > n" without ever skipping a concurrent writer's change.
//
// Driver errors are translated here, at the boundary, into domain errors:
// unique violations become CodeConflict, foreign-key violations CodeInvalid,
// an unreachable or overloaded database CodeUnavailable, and a missing table
// CodeSchemaStale. SQL parameters are never logged: they hold personal data.
package sqlstore
