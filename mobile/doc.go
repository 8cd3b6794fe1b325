// Package mobile is what phones (and every other HTTP client) talk to: the
// Fiber application with its cross-cutting plumbing (request ids, access
// logs without personal data, Prometheus metrics, problem+json errors, body
// limits, health and readiness), sign-in and session endpoints, and the
// device API. The sync endpoints, the poke stream and resumable photo uploads
// join it as they are built.
//
// The admin back office mounts its routes on the same application, so the
// error format and the plumbing here are the product's one HTTP surface.
package mobile
