package sync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/iswitchroofs/fieldsync/domain"
)

// MaxMutationNameLen bounds a mutation name.
const MaxMutationNameLen = 64

// DecodePush parses the body of a push strictly: one JSON object with only
// the documented keys, of the documented types. It returns
//   - CodePayloadTooLarge for a body over MaxPushBytes;
//   - CodeUpgradeRequired when protocol_version or schema_version is not
//     served (checked first, on a lenient read, so that a future app whose
//     body has another shape is still told to upgrade, not that it is
//     malformed);
//   - CodeMalformedRequest when the body is not that JSON (the message
//     names the offending field where there is one);
//   - CodeInvalid naming the field when a value breaks a rule of
//     validatePush.
//
// Unknown mutation names and bad mutation arguments are not errors here:
// they are per-mutation rejections, so one bad mutation never blocks the
// ones behind it.
func DecodePush(body []byte) (PushRequest, error) {
	var req PushRequest
	if len(body) > MaxPushBytes {
		return req, domain.Errorf(domain.CodePayloadTooLarge, "a push body is at most %d bytes", MaxPushBytes)
	}
	if err := decodeBody(body, &req); err != nil {
		return PushRequest{}, err
	}
	if err := validatePush(req); err != nil {
		return PushRequest{}, err
	}
	return req, nil
}

// DecodePull parses the body of a pull strictly, like DecodePush: the same
// version check first, then CodeMalformedRequest or CodeInvalid.
func DecodePull(body []byte) (PullRequest, error) {
	var req PullRequest
	if len(body) > maxPullBytes {
		return req, domain.Errorf(domain.CodePayloadTooLarge, "a pull body is at most %d bytes", maxPullBytes)
	}
	if err := decodeBody(body, &req); err != nil {
		return PullRequest{}, err
	}
	if err := validatePull(req); err != nil {
		return PullRequest{}, err
	}
	return req, nil
}

// maxPullBytes bounds a pull body: a cursor and a few numbers.
const maxPullBytes = 16 << 10

// decodeBody checks the versions leniently, then decodes dst strictly.
func decodeBody(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.Errorf(domain.CodeMalformedRequest, "the body is empty; it must be a JSON object")
	}
	var v Versions
	// Lenient on purpose: only a readable, unserved version short-cuts; a
	// missing one is the strict check's to report.
	if json.Unmarshal(body, &v) == nil {
		if v.ProtocolVersion == 0 {
			v.ProtocolVersion = ProtocolVersion
		}
		if v.SchemaVersion == 0 {
			v.SchemaVersion = SchemaVersion
		}
		if err := checkVersions(v); err != nil {
			return err
		}
	}
	if err := strictUnmarshal(body, dst); err != nil {
		return malformed(err)
	}
	return nil
}

// malformed turns a JSON decoding error into CodeMalformedRequest with a
// message that names the field, without echoing the client's bytes.
func malformed(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return domain.WrapError(domain.CodeMalformedRequest, err, "the body must be a JSON object")
		}
		return &domain.Error{
			Code: domain.CodeMalformedRequest, Err: err,
			Message: fmt.Sprintf("%s: must be %s", field, jsonTypeName(typeErr.Type.Kind().String())),
			Fields:  []domain.FieldError{{Field: field, Message: "has the wrong type"}},
		}
	case errors.As(err, &syntaxErr):
		return domain.WrapError(domain.CodeMalformedRequest, err,
			fmt.Sprintf("the body is not valid JSON (at byte %d)", syntaxErr.Offset))
	case errors.Is(err, errTrailing):
		return domain.WrapError(domain.CodeMalformedRequest, err, "the body must hold exactly one JSON object")
	}
	msg := err.Error()
	if field, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		field = strings.Trim(field, `"`)
		return &domain.Error{
			Code: domain.CodeMalformedRequest, Err: err,
			Message: fmt.Sprintf("unknown field %q", field),
			Fields:  []domain.FieldError{{Field: field, Message: "is not a field of this request"}},
		}
	}
	return domain.WrapError(domain.CodeMalformedRequest, err, "the body is not the JSON this endpoint expects")
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32":
		return "an integer"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "of another type"
}

// validateVersions checks that the versions are present; whether they are
// served is checkVersions' question.
func validateVersions(fields []domain.FieldError, v Versions) []domain.FieldError {
	if v.ProtocolVersion == 0 {
		fields = append(fields, domain.FieldError{Field: "protocol_version", Message: "is required"})
	}
	if v.SchemaVersion == 0 {
		fields = append(fields, domain.FieldError{Field: "schema_version", Message: "is required"})
	}
	return appendAppVersion(fields, v.AppVersion)
}

// validatePush checks a push request's shape: versions present, a client
// id, a mutations array (possibly empty) of at most MaxMutationsPerPush
// entries with consecutive ids from 1 up, names, and object arguments.
// CodeUpgradeRequired for unserved versions, CodeInvalid naming the first
// bad fields otherwise.
func validatePush(req PushRequest) error {
	fields := validateVersions(nil, req.Versions)
	if req.ClientID == "" {
		fields = append(fields, domain.FieldError{Field: "client_id", Message: "is required"})
	} else if !validID(req.ClientID) {
		fields = append(fields, domain.FieldError{Field: "client_id", Message: idMessage})
	}
	switch {
	case req.Mutations == nil:
		fields = append(fields, domain.FieldError{Field: "mutations", Message: "is required (an empty array is allowed)"})
	case len(req.Mutations) > MaxMutationsPerPush:
		fields = append(fields, domain.FieldError{Field: "mutations",
			Message: fmt.Sprintf("at most %d mutations per push", MaxMutationsPerPush)})
	}
	if len(fields) == 0 {
		fields = validateMutations(req.Mutations)
	}
	if len(fields) > 0 {
		return domain.Invalid(fields...)
	}
	return checkVersions(req.Versions)
}

func validateMutations(ms []Mutation) []domain.FieldError {
	var fields []domain.FieldError
	for i, m := range ms {
		at := func(f string) string { return fmt.Sprintf("mutations[%d].%s", i, f) }
		switch {
		case m.ID < 1:
			fields = append(fields, domain.FieldError{Field: at("id"), Message: "must be 1 or more"})
		case i > 0 && m.ID != ms[0].ID+int64(i):
			fields = append(fields, domain.FieldError{Field: at("id"),
				Message: fmt.Sprintf("must be %d: ids in a batch are consecutive", ms[0].ID+int64(i))})
		}
		if m.Name == "" {
			fields = append(fields, domain.FieldError{Field: at("name"), Message: "is required"})
		} else if len(m.Name) > MaxMutationNameLen {
			fields = append(fields, domain.FieldError{Field: at("name"), Message: "is too long"})
		}
		if a := bytes.TrimSpace(m.Args); len(a) == 0 || a[0] != '{' {
			fields = append(fields, domain.FieldError{Field: at("args"), Message: "must be a JSON object"})
		}
		if len(fields) >= 10 {
			break // enough to fix the client; the body may hold a thousand
		}
	}
	return fields
}

// validatePull checks a pull request's shape: versions, client id, a
// non-negative limit and acknowledgement, and repair kinds that are synced
// kinds, each once. A limit above MaxPullLimit is not an error: Pull caps it.
func validatePull(req PullRequest) error {
	fields := validateVersions(nil, req.Versions)
	if req.ClientID == "" {
		fields = append(fields, domain.FieldError{Field: "client_id", Message: "is required"})
	} else if !validID(req.ClientID) {
		fields = append(fields, domain.FieldError{Field: "client_id", Message: idMessage})
	}
	if req.Limit < 0 {
		fields = append(fields, domain.FieldError{Field: "limit", Message: "must be 0 (the default) or more"})
	}
	if req.AckOutcomesThrough < 0 {
		fields = append(fields, domain.FieldError{Field: "ack_outcomes_through", Message: "must be 0 or more"})
	}
	if len(req.Cursor) > MaxCursorLen {
		fields = append(fields, domain.FieldError{Field: "cursor", Message: "is not a cursor this server issued"})
	}
	for i, k := range req.RepairKinds {
		f := fmt.Sprintf("repair_kinds[%d]", i)
		switch {
		case !domain.IsSynced(k):
			fields = append(fields, domain.FieldError{Field: f, Message: fmt.Sprintf("%q is not a synced kind", k)})
		case slices.Contains(req.RepairKinds[:i], k):
			fields = append(fields, domain.FieldError{Field: f, Message: "is listed twice"})
		}
	}
	if len(fields) > 0 {
		return domain.Invalid(fields...)
	}
	return checkVersions(req.Versions)
}
