// Package mobile is what phones (and every other HTTP client) talk to: the
// Fiber application with its cross-cutting plumbing (request ids, access
// logs without personal data, Prometheus metrics, problem+json errors, body
// limits, health and readiness), sign-in and session endpoints, and the
// device API: device registration, sync push and pull, checksums, the
// support report, and the poke stream (server-sent events, events.go), all
// in front of the sync engine (SyncEngine) and a poke source (Pokes).
// Resumable photo uploads join it as they are built.
//
// The admin back office mounts its routes on the same application, so the
// error format and the plumbing here are the product's one HTTP surface.
package mobile
