// Package sync is the protocol engine that keeps every phone in step with
// what its user may see: it applies pushed batches of mutations exactly once
// through the one write path, and answers pulls with the changes since a
// cursor, in pages of whole transactions, with grants and revocations when
// access changes, and each device's rejections and conflicts.
//
// It imports only domain. The wire format it speaks is specified in
// docs/sync-protocol.md; the types in wire.go are that format.
//
// Where things are:
//   - engine.go: Engine, Config, Metrics, device registration, the checks
//     every request starts with (versions, principal, client ownership).
//   - decode.go: DecodePush and DecodePull, strict parsers of request bodies.
//   - push.go: Push, one transaction per mutation, exactly once, rejections.
//   - mutation.go, merge.go, validate.go: the mutation framework (arguments,
//     access, echo tagging), the field-level merge of updates, the checks.
//   - leads.go, records.go, appointments.go, interactions.go, photos.go,
//     alerts.go: the mutations, each with its entry of Catalogue().
//   - pull.go, cursor.go: Pull, snapshots and incremental pages, resets, and
//     the opaque cursor.
//   - fields.go: the entities' JSON fields and the schema history that lets
//     older apps sync (SchemaHistory).
//   - outcomes.go: rejection codes and how failures become outcomes.
//   - explain.go: Checksums and Explain.
//
// synctest (a subpackage) simulates devices on top of an Engine for tests.
//
// The package name shadows the standard library's sync: import it as fsync,
// and the standard one as gosync where both meet.
package sync
