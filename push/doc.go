// Package push sends alerts to people: FCM push (firebase.google.com/go/v4),
// SMS and voice calls (twilio-go) and email (SMTP). It shapes the payloads
// (a high-priority notification with the lead id, collapsed per lead, and a
// data-only poke for apps in the background), sorts provider failures into
// "retry later" (with the provider's Retry-After) and "give up", and reports
// push tokens the provider says are dead so the caller can prune them.
//
// Endpoints are configuration: production talks to Google and Twilio, tests
// and benchmarks to push/pushtest on loopback through the same code path.
// Local stands in for every channel when nothing is configured (fieldsync
// dev): the caller records the message in its notifications table instead.
package push
