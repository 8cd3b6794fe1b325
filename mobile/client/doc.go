// Package client is the reference client of the fieldsync sync protocol
// (docs/sync-protocol.md): the library a phone app (through the gomobile
// facade in mobile/client/mobileapi) or a test uses to keep a local copy
// of its user's scope.
//
// A Client keeps everything in one SQLite file (pure Go, no cgo): the
// server copies of records, an outbox of mutations with per-device
// increasing ids that survives restarts, the pull cursor, the outcomes
// received, the session's tokens and the photo upload queue
// (mobile/client/uploadq). Mutate applies a change optimistically
// (the app's view is the server copy with the outbox re-applied, so no pull
// makes an edit flicker); Sync pushes the outbox and pulls page by page,
// each page in one local transaction, staging reset sessions and swapping
// them in at their end without ever dropping the outbox. Transient failures
// are retried with exponential backoff and full jitter, honouring
// Retry-After; a 401 token_expired refreshes the session once (refresh
// tokens rotate, so refreshes are serialised). Run adds the poke stream
// (reconnected when it drops or falls silent) and a periodic pull.
//
// AddPhoto records a photo's photo.create and queues its file in one local
// transaction. The upload waits until a push has brought the record to the
// server, then runs alongside sync (tus: a photo up to
// Config.UploadOneRequestSize goes whole in one request on its first
// attempt; otherwise, or after that failed, in checksummed chunks resumed
// from the server's offset); a rejected or deleted record fails it, and the
// file is removed (Config.DeleteAfterUpload) only after the server
// confirmed every byte. PhotoState merges the queue with the server's
// record as last pulled; PendingPhotos lists the photos not ready yet.
package client
