// Package blob stores photo bytes behind domain.BlobStore: Dir on a local
// directory (the embedded default of `fieldsync dev`) and MinIO on any
// S3-compatible server (production).
//
// Both implementations behave the same way, and the suite in blobtest checks
// it against each of them:
//
//   - Keys are checked before any byte is read (see the key rules below);
//     a bad key, content type or size is domain.CodeInvalid and stores nothing.
//   - A Put is all or nothing: readers see the old object or the new one,
//     never part of one, and a Put that fails (a broken or canceled stream,
//     or a body that is not exactly the declared size) leaves the previous
//     object, or no object, in place.
//   - With a declared size, Put reads exactly that many bytes: a shorter or
//     longer body is CodeInvalid. A size of -1 reads to the end.
//   - An empty content type is stored as application/octet-stream; any other
//     is returned exactly as given.
//   - ModifiedAt is UTC to the second, which is all S3's HEAD reports.
//   - A canceled or expired context is domain.CodeUnavailable, with the
//     context's error in the chain for errors.Is.
//
// Key rules, shared so that a key valid here is valid on every backend: at
// most 1024 bytes of UTF-8, slash-separated segments of 1 to 255 bytes (a
// segment becomes a file or folder name on disk, in Dir and in MinIO alike),
// no "." or ".." segment, no leading slash, no backslash and no control
// character.
//
// A key must not also be a folder of other keys ("a" and "a/b"). Dir refuses
// the second one with domain.CodeConflict because a file cannot also be a
// folder. MinIO stores both, but its listings then leave one of them out, so
// callers choose key schemes where it cannot happen, such as
// "<org>/<photo>/original.jpg" next to "<org>/<photo>/thumb-256.jpg".
package blob
