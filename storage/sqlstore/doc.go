// Package sqlstore is fieldsync's data adapter: domain.Store and
// domain.SyncStore on GORM, with PostgreSQL in production and SQLite (pure
// Go, no cgo) as the embedded default for `fieldsync dev`.
//
// The domain structs are the GORM models, so their field names decide the
// column names (GORM's default naming); the versioned migrations in
// migrations/<dialect> create exactly those columns, and the conformance
// suite checks that every table matches its struct on both databases. The
// store's own bookkeeping columns (each synced record's scope_ columns, the
// organization's sync epoch and history floor) are the only extras.
//
// Every write to a synced record goes through Store.Write (or SyncWrite,
// the same path with the sync engine's extras), the one write path. It takes
// the organization's next change sequence under the organization row's
// lock, stamps every row it writes with that number as its version, records
// one change-log row per record and commits outbox rows with the data.
// Because the lock is held until commit, an organization's sequence numbers
// commit in order, which is what lets a pull cursor be a plain "seq > n"
// without ever skipping a concurrent writer's change.
//
// For the kinds phones hold (domain.SyncedKinds) the change row also
// carries the record's JSON and its access anchor (who could see it), and
// the record's scope_ columns keep its current anchor, so that pulls and
// snapshots filter by scope without joins. When a write moves an anchor (a
// lead reassigned, a tech taken off a project) the records under it move
// too, and every user who gains or loses sight of one gets a grant (with the
// record) or a revoke aimed at them, in the same transaction: access changes
// are sync events. Who may see what is decided by domain.CanSee alone; the
// SQL filters here are that rule restricted to anchors, and a property test
// holds them to it.
//
// Driver errors are translated here, at the boundary, into domain errors:
// unique violations become CodeConflict, foreign-key violations CodeInvalid,
// an unreachable or overloaded database CodeUnavailable, and a missing table
// CodeSchemaStale. SQL parameters are never logged: they hold personal data.
package sqlstore
