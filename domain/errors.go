package domain

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the broad class of an error. The HTTP layer maps each kind to a
// status; clients should branch on Code, which is finer and stable.
type Kind string

// The error kinds. They mirror the classes a caller can act on differently.
const (
	KindInvalid      Kind = "invalid"
	KindNotFound     Kind = "not_found"
	KindConflict     Kind = "conflict"
	KindUnauthorized Kind = "unauthorized"
	KindForbidden    Kind = "forbidden"
	KindRateLimited  Kind = "rate_limited"
	KindUnavailable  Kind = "unavailable"
	KindInternal     Kind = "internal"
)

// Code is a stable, machine-readable error code. Codes are part of the public
// API: clients switch on them, so they are never renamed, only added.
type Code string

// The error codes, each with the kind it belongs to in codeKinds.
const (
	CodeInvalid            Code = "invalid"             // a field failed validation
	CodeMalformedRequest   Code = "malformed_request"   // the body is not the JSON the endpoint expects
	CodePayloadTooLarge    Code = "payload_too_large"   // the body exceeds the endpoint's limit
	CodeUnsupportedMedia   Code = "unsupported_media"   // wrong Content-Type
	CodeInvalidTransition  Code = "invalid_transition"  // a status workflow forbids the change
	CodeNotFound           Code = "not_found"           // absent, deleted, or outside the caller's scope
	CodeRouteNotFound      Code = "route_not_found"     // no such endpoint
	CodeMethodNotAllowed   Code = "method_not_allowed"  // endpoint exists, verb does not
	CodeConflict           Code = "conflict"            // a uniqueness or version conflict
	CodeUnauthorized       Code = "unauthorized"        // no credentials
	CodeInvalidCredentials Code = "invalid_credentials" // wrong email or password
	CodeTokenExpired       Code = "token_expired"       // access token past its expiry
	CodeTokenInvalid       Code = "token_invalid"       // forged, malformed or unknown-key token
	CodeRefreshInvalid     Code = "refresh_invalid"     // unknown, expired or revoked refresh token
	CodeRefreshReused      Code = "refresh_reused"      // an already rotated refresh token: family revoked
	CodeAccountDisabled    Code = "account_disabled"    // the user is deactivated
	CodeForbidden          Code = "forbidden"           // authenticated but not allowed
	CodeRateLimited        Code = "rate_limited"        // too many attempts; see RetryAfter
	CodeUnavailable        Code = "unavailable"         // a dependency is down; retry later
	CodeSchemaStale        Code = "schema_stale"        // the database schema is older than the binary
	CodeUpgradeRequired    Code = "upgrade_required"    // the app's protocol or schema version is no longer served
	CodeInternal           Code = "internal"            // a bug; details only in the server log

	// Lead intake (admin API).
	CodeUnknownSource    Code = "unknown_source"     // the lead's source is not one intake accepts
	CodeInvalidPhone     Code = "invalid_phone"      // the phone number cannot be read as a real number
	CodeMissingContact   Code = "missing_contact"    // neither a phone nor an email to reach the lead
	CodeAPIKeyInvalid    Code = "api_key_invalid"    // no such API key
	CodeAPIKeyRevoked    Code = "api_key_revoked"    // the API key was revoked by an admin
	CodeExternalIDReused Code = "external_id_reused" // the source sent another person under an external id it used before

	// Photo uploads (tus) and processing.
	CodeUnsupportedImage  Code = "unsupported_image_type"         // the bytes are not JPEG, PNG or WebP (HEIC included)
	CodeImageTooLarge     Code = "image_too_large"                // over the pixel limit (a decompression bomb)
	CodeImageCorrupt      Code = "image_corrupt"                  // the image's structure is broken: truncated or damaged
	CodeChecksumMismatch  Code = "checksum_mismatch"              // a PATCH's Upload-Checksum does not match its bytes
	CodeContentMismatch   Code = "content_hash_mismatch"          // the whole upload does not hash to the photo's sha256
	CodeOffsetMismatch    Code = "offset_mismatch"                // Upload-Offset is not the upload's current offset
	CodeUploadExpired     Code = "upload_expired"                 // the upload was abandoned and removed; start again
	CodeUploadQuota       Code = "upload_quota_exceeded"          // the organization's unfinished uploads are over its quota
	CodeTusVersion        Code = "tus_version_unsupported"        // Tus-Resumable is missing or not 1.0.0
	CodeChecksumAlgorithm Code = "checksum_algorithm_unsupported" // Upload-Checksum names an algorithm other than sha256
)

var codeKinds = map[Code]Kind{
	CodeInvalid:            KindInvalid,
	CodeMalformedRequest:   KindInvalid,
	CodePayloadTooLarge:    KindInvalid,
	CodeUnsupportedMedia:   KindInvalid,
	CodeInvalidTransition:  KindConflict,
	CodeNotFound:           KindNotFound,
	CodeRouteNotFound:      KindNotFound,
	CodeMethodNotAllowed:   KindInvalid,
	CodeConflict:           KindConflict,
	CodeUnauthorized:       KindUnauthorized,
	CodeInvalidCredentials: KindUnauthorized,
	CodeTokenExpired:       KindUnauthorized,
	CodeTokenInvalid:       KindUnauthorized,
	CodeRefreshInvalid:     KindUnauthorized,
	CodeRefreshReused:      KindUnauthorized,
	CodeAccountDisabled:    KindUnauthorized,
	CodeForbidden:          KindForbidden,
	CodeRateLimited:        KindRateLimited,
	CodeUnavailable:        KindUnavailable,
	CodeSchemaStale:        KindUnavailable,
	CodeUpgradeRequired:    KindInvalid,
	CodeInternal:           KindInternal,
	CodeUnknownSource:      KindInvalid,
	CodeInvalidPhone:       KindInvalid,
	CodeMissingContact:     KindInvalid,
	CodeAPIKeyInvalid:      KindUnauthorized,
	CodeAPIKeyRevoked:      KindUnauthorized,
	CodeExternalIDReused:   KindConflict,
	CodeUnsupportedImage:   KindInvalid,
	CodeImageTooLarge:      KindInvalid,
	CodeImageCorrupt:       KindInvalid,
	CodeChecksumMismatch:   KindInvalid,
	CodeContentMismatch:    KindInvalid,
	CodeOffsetMismatch:     KindConflict,
	CodeUploadExpired:      KindNotFound,
	CodeUploadQuota:        KindInvalid,
	CodeTusVersion:         KindInvalid,
	CodeChecksumAlgorithm:  KindInvalid,
}

// Kind returns the class the code belongs to; unknown codes are internal.
func (c Code) Kind() Kind {
	if k, ok := codeKinds[c]; ok {
		return k
	}
	return KindInternal
}

// Codes lists every defined code, for documentation and tests.
func Codes() []Code {
	out := make([]Code, 0, len(codeKinds))
	for c := range codeKinds {
		out = append(out, c)
	}
	return out
}

// FieldError names one invalid input field and why, in words safe to show.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is fieldsync's one error type. Message is safe to show to a client;
// Err (if any) is the underlying cause and is only ever logged.
type Error struct {
	Code       Code
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError builds an *Error that keeps cause for the log while showing only
// message to the client.
func WrapError(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Invalid builds a validation error listing the offending fields.
func Invalid(fields ...FieldError) *Error {
	msg := "the request has invalid fields"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: CodeInvalid, Message: msg, Fields: fields}
}

// ErrorCode returns the code of err: the Code of the first *Error in its
// chain, CodeInternal for any other non-nil error, "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err; anything that is not
// an *Error gets a generic text so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "an internal error occurred"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool { return ErrorCode(err) == code }

// ErrNotFound is a convenience for the most common lookup failure.
func ErrNotFound(what string) *Error { return Errorf(CodeNotFound, "%s not found", what) }
