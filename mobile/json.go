package mobile

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// decodeJSON reads the request body into dst, strictly: the body must be
// JSON (by Content-Type), at most limit bytes, one object with no unknown
// fields and no trailing data. Each failure becomes the domain error a
// client can act on: 415, 413, 400 for syntax, 422 naming the field for a
// wrong type or an unknown field.
func decodeJSON(c *fiber.Ctx, limit int, dst any) error {
	body, err := jsonBody(c, limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.Errorf(domain.CodeMalformedRequest, "request body is empty; expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Errorf(domain.CodeMalformedRequest, "request body has data after the JSON object")
	}
	return nil
}

// jsonBody returns the request body if it is declared as JSON (else 415)
// and is at most limit bytes (else 413), for decoders of the body's own
// (the sync engine's). The bytes belong to the request: decode, not keep.
func jsonBody(c *fiber.Ctx, limit int) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || (mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return nil, domain.Errorf(domain.CodeUnsupportedMedia, "send the body as application/json")
	}
	body := c.Body()
	if len(body) > limit {
		return nil, domain.Errorf(domain.CodePayloadTooLarge, "request body exceeds %d bytes", limit)
	}
	return body, nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return domain.Errorf(domain.CodeMalformedRequest, "request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Errorf(domain.CodeMalformedRequest, "request body is truncated JSON")
	case errors.As(err, &typ):
		field := jsonFieldPath(typ.Field)
		if field == "" {
			return domain.Errorf(domain.CodeMalformedRequest, "request body must be a JSON object")
		}
		return domain.Invalid(domain.FieldError{Field: field, Message: "must be " + jsonTypeName(typ.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalid(domain.FieldError{Field: name, Message: "unknown field"})
	}
	return domain.Errorf(domain.CodeMalformedRequest, "request body could not be read as JSON")
}

// jsonFieldPath turns encoding/json's path of a field into the client's
// view of it. The path names an embedded struct (fsync.Versions inside a
// push) by its Go type, which is not in the JSON; our JSON names are
// snake_case, so a segment starting with a capital is such a type name.
func jsonFieldPath(path string) string {
	parts := strings.Split(path, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != "" && !(p[0] >= 'A' && p[0] <= 'Z') {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	}
	return "a JSON object"
}

// required appends a field error for each empty value, so a client learns
// about every missing field in one answer.
func required(pairs ...string) []domain.FieldError {
	var out []domain.FieldError
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			out = append(out, domain.FieldError{Field: pairs[i], Message: "is required"})
		}
	}
	return out
}
