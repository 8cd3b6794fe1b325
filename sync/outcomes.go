package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/iswitchroofs/fieldsync/domain"
)

// RejectionCode says why the server refused a mutation for good. The codes
// are part of the protocol: apps switch on them, so they are only ever
// added, never renamed. Each outcome also carries a message that is safe to
// show the user.
type RejectionCode string

// The rejection codes, and the one conflict code.
const (
	// RejectInvalidArgs: the arguments are malformed or break a rule
	// (details: {"fields": [{"field", "message"}]}).
	RejectInvalidArgs RejectionCode = "invalid_args"
	// RejectUnknownMutation: this server does not know the mutation name.
	RejectUnknownMutation RejectionCode = "unknown_mutation"
	// RejectUnknownField: an argument or field the mutation does not take,
	// or one the app's schema version does not know
	// (details: {"fields": [{"field", "message"}]}).
	RejectUnknownField RejectionCode = "unknown_field"
	// RejectNotFound: the record (or a parent it names) does not exist or
	// is outside the user's scope (for example reassigned to someone else).
	// The two are never told apart, so ids cannot be probed.
	RejectNotFound RejectionCode = "not_found"
	// RejectForbidden: the user sees the record but their role may not do
	// this to it.
	RejectForbidden RejectionCode = "forbidden"
	// RejectInvalidTransition: the status workflow does not allow the move
	// from the record's current status.
	RejectInvalidTransition RejectionCode = "invalid_transition"
	// RejectRecordDeleted: the record (or the parent named) was deleted;
	// delete wins over a concurrent update.
	RejectRecordDeleted RejectionCode = "record_deleted"
	// RejectAppointmentConflict: the assignee already has a scheduled
	// appointment overlapping the time
	// (details: {"conflicts": [{"starts_at", "ends_at"}]}).
	RejectAppointmentConflict RejectionCode = "appointment_conflict"
	// RejectAlreadyExists: a create named an id that is already taken.
	RejectAlreadyExists RejectionCode = "already_exists"
	// RejectInternal: the server failed on this mutation (a bug, logged
	// with the mutation's id). It is acknowledged all the same so that one
	// poison mutation never blocks the queue behind it.
	RejectInternal RejectionCode = "internal"

	// ConflictField is the code of a conflict outcome: the mutation applied,
	// but the server kept another value for at least one field
	// (details: [{"field", "yours", "server"}]).
	ConflictField = "field_conflict"
)

// RejectionCodes lists every rejection code, for documentation and tests.
func RejectionCodes() []RejectionCode {
	return []RejectionCode{
		RejectInvalidArgs, RejectUnknownMutation, RejectUnknownField, RejectNotFound,
		RejectForbidden, RejectInvalidTransition, RejectRecordDeleted,
		RejectAppointmentConflict, RejectAlreadyExists, RejectInternal,
	}
}

// FieldConflict is one field of a conflict outcome's details: the value
// the device sent and the value the server kept.
type FieldConflict struct {
	Field  string          `json:"field"`
	Yours  json.RawMessage `json:"yours"`
	Server json.RawMessage `json:"server"`
}

// rejection is a permanent refusal of a mutation with a protocol code that
// domain codes do not express (unknown_field, record_deleted, …).
type rejection struct {
	code    RejectionCode
	message string
	details any
}

func (r *rejection) Error() string { return string(r.code) + ": " + r.message }

func reject(code RejectionCode, details any, format string, args ...any) error {
	return &rejection{code: code, message: fmt.Sprintf(format, args...), details: details}
}

// fieldDetails is the details shape of invalid_args and unknown_field.
type fieldDetails struct {
	Fields []domain.FieldError `json:"fields"`
}

func unknownField(field string) error {
	return reject(RejectUnknownField,
		fieldDetails{Fields: []domain.FieldError{{Field: field, Message: "unknown field"}}},
		"%s: unknown field (this app version may be newer or older than the server)", field)
}

// notFound is the one wording of a record the user cannot reach, whether it
// never existed or left their scope: the two must read the same.
func notFound(kind domain.EntityKind) error {
	return reject(RejectNotFound, nil, "%s not found, or no longer shared with you", noun(kind))
}

func deleted(kind domain.EntityKind) error {
	return reject(RejectRecordDeleted, nil, "this %s was deleted; your change was not applied", noun(kind))
}

func noun(kind domain.EntityKind) string { return strings.ReplaceAll(string(kind), "_", " ") }

// outcomeOf turns a permanent failure into the rejection a device is told
// about: a code of RejectionCodes, a message safe for the user, and details.
// Internal errors get a generic message: their cause is only logged.
func outcomeOf(err error) (RejectionCode, string, json.RawMessage) {
	var r *rejection
	if errors.As(err, &r) {
		return r.code, r.message, marshalDetails(r.details)
	}
	var de *domain.Error
	if !errors.As(err, &de) {
		return RejectInternal, internalMessage, nil
	}
	var code RejectionCode
	switch de.Code {
	case domain.CodeInvalid, domain.CodeMalformedRequest:
		code = RejectInvalidArgs
	case domain.CodeNotFound:
		code = RejectNotFound
	case domain.CodeForbidden, domain.CodeUnauthorized, domain.CodeAccountDisabled:
		code = RejectForbidden
	case domain.CodeInvalidTransition:
		code = RejectInvalidTransition
	case domain.CodeConflict:
		// The write path's only conflict is a taken id on create.
		code = RejectAlreadyExists
	default:
		return RejectInternal, internalMessage, nil
	}
	var details any
	if len(de.Fields) > 0 {
		details = fieldDetails{Fields: de.Fields}
	}
	return code, de.Message, marshalDetails(details)
}

const internalMessage = "the server could not apply this change; it has been reported"

func marshalDetails(d any) json.RawMessage {
	if d == nil {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	return b
}

// transient reports whether a failure may go away by itself (the database
// is down or overloaded, the request was cancelled): the push stops there
// without acknowledging the mutation, and the device retries the batch.
// Everything else is permanent and becomes a rejection.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var r *rejection
	if errors.As(err, &r) {
		return false
	}
	return domain.ErrorCode(err).Kind() == domain.KindUnavailable
}
