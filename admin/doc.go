// Package admin is the back-office API mounted on the same Fiber application
// as the device API: lead intake for web forms and ad platforms
// (per-organization API keys), API-key management, alert acknowledgement,
// response-time compliance for the admin app's charts, reps' schedules for
// routing, and the notifications list that doubles as the dev outbox.
//
// Handlers return *domain.Error; the application's error handler renders
// them as problem+json. Authentication of user-facing routes comes from the
// wiring (Config.RequireAuth), because admin may not import mobile.
package admin
