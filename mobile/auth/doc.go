// Package auth signs team members in from their phones and authenticates
// every request after that.
//
// A sign-in yields two tokens. The access token is a short-lived HS256 JWT
// that any server replica verifies with the shared key ring alone; the
// refresh token is an opaque random string whose SHA-256 is kept by the
// domain.SessionStore, rotated on every use, and detected when replayed
// (the whole family is revoked then, because a replay means two parties hold
// it). Refresh tokens live long because phones stay offline for weeks.
//
// Authenticate reloads the user on every request, so a deactivation or a role
// change takes effect at once rather than when the access token expires.
//
// The package depends only on domain and on libraries; storage adapters are
// handed in through the ports in Config.
package auth
