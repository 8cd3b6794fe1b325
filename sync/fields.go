package sync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// fieldInfo is one JSON field of a synced entity, found by reflection so
// that mutations name fields exactly as pulls send them.
type fieldInfo struct {
	name  string
	index []int
	typ   reflect.Type
}

// kindFields is the field table of one synced kind.
type kindFields struct {
	typ    reflect.Type // the struct type (not the pointer)
	byName map[string]*fieldInfo
}

// newRecord returns an empty record of the kind.
func (k *kindFields) newRecord() domain.Record {
	return reflect.New(k.typ).Interface().(domain.Record)
}

// tables holds the field table of every synced kind; built once from the
// domain types, so a field added to an entity is known here at once.
var tables = func() map[domain.EntityKind]*kindFields {
	samples := []domain.Record{
		&domain.User{}, &domain.Lead{}, &domain.Customer{}, &domain.Project{},
		&domain.Appointment{}, &domain.Interaction{}, &domain.Photo{}, &domain.Alert{},
	}
	out := make(map[domain.EntityKind]*kindFields, len(samples))
	for _, rec := range samples {
		t := reflect.TypeOf(rec).Elem()
		kf := &kindFields{typ: t, byName: map[string]*fieldInfo{}}
		for _, f := range reflect.VisibleFields(t) {
			if f.Anonymous || !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || name == "" {
				continue
			}
			kf.byName[name] = &fieldInfo{name: name, index: f.Index, typ: f.Type}
		}
		out[rec.EntityKind()] = kf
	}
	return out
}()

// fieldsOf returns the field table of a synced kind.
func fieldsOf(kind domain.EntityKind) *kindFields {
	kf, ok := tables[kind]
	if !ok {
		// Every caller passes a kind of SyncedKinds; a miss is a bug.
		panic(fmt.Sprintf("sync: no field table for kind %q", kind))
	}
	return kf
}

// metaFields are the header fields every record carries. The server alone
// sets them, so a mutation may never name them and echo detection ignores
// them.
var metaFields = []string{"id", "org_id", "version", "created_at", "updated_at", "created_by", "updated_by"}

// FieldChange records that a schema version introduced fields of a kind.
type FieldChange struct {
	// Since is the first schema version that knows the fields.
	Since  int
	Kind   domain.EntityKind
	Fields []string
}

// schemaHistory is the declarative history of the entity schema: every
// field a schema version added, per kind. A field not listed here has been
// there since schema 1. Pulls for an older schema leave the newer fields
// out, and an older app that names one in a mutation gets unknown_field, so
// the phone's store never sees a field its code does not know and an old
// app can never overwrite a new field (updates are patches of named fields).
//
// To add a field to a synced entity: add it to the domain type, bump
// SchemaVersion, and add a line here; keep MinSchemaVersion two behind.
var schemaHistory = []FieldChange{
	{Since: 2, Kind: domain.KindLead, Fields: []string{"white_glove", "routing_rule"}},
	{Since: 2, Kind: domain.KindPhoto, Fields: []string{"width", "height"}},
	{Since: 3, Kind: domain.KindLead, Fields: []string{"score_breakdown"}},
	{Since: 3, Kind: domain.KindPhoto, Fields: []string{"processing_state", "failure_reason"}},
}

// SchemaHistory returns the fields each schema version added, oldest first
// (for the protocol documentation and tests). The slice is the caller's.
func SchemaHistory() []FieldChange {
	out := make([]FieldChange, len(schemaHistory))
	for i, c := range schemaHistory {
		c.Fields = slices.Clone(c.Fields)
		out[i] = c
	}
	return out
}

// fieldSince is the schema version that introduced the field (1 if the
// history does not list it).
func fieldSince(kind domain.EntityKind, field string) int {
	for _, c := range schemaHistory {
		if c.Kind == kind && slices.Contains(c.Fields, field) {
			return c.Since
		}
	}
	return 1
}

// knownTo reports whether a client on schema version schema knows the field.
func knownTo(kind domain.EntityKind, field string, schema int) bool {
	return fieldSince(kind, field) <= schema
}

// stripForSchema removes from a record's JSON the fields a client on the
// given schema version does not know. The current schema gets the payload
// untouched (no parse). A payload that is not an object is returned as is:
// it came from the store, which only writes objects.
// CreateDefaults are the fields a device sets itself, when the arguments
// leave them out, on the record a create mutation makes for user, within
// what schema has: the server sets the same, and so answers such a create
// with op version only (docs/sync-protocol.md, "Comes back as version"). A
// device that rebuilt the record from the arguments alone would keep one
// without these fields.
func CreateDefaults(mutation, user string, schema int) map[string]any {
	var out map[string]any
	switch mutation {
	case "photo.create":
		out = map[string]any{"taken_by": user, "upload_state": domain.UploadPending, "processing_state": domain.ProcessingPending}
	case "appointment.create":
		out = map[string]any{"status": domain.AppointmentScheduled, "assigned_to": user}
	case "interaction.log":
		out = map[string]any{"user_id": user}
	default:
		return nil
	}
	kind, _, _ := strings.Cut(mutation, ".")
	for _, c := range schemaHistory {
		if string(c.Kind) == kind && c.Since > schema {
			for _, f := range c.Fields {
				delete(out, f)
			}
		}
	}
	return out
}

func stripForSchema(kind domain.EntityKind, payload json.RawMessage, schema int) json.RawMessage {
	if schema >= SchemaVersion || len(payload) == 0 {
		return payload
	}
	var drop []string
	for _, c := range schemaHistory {
		if c.Kind == kind && c.Since > schema {
			drop = append(drop, c.Fields...)
		}
	}
	if len(drop) == 0 {
		return payload
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return payload
	}
	for _, f := range drop {
		delete(obj, f)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return payload
	}
	return out
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// decodeField decodes a JSON value for the field. null clears a nullable
// field (a pointer or a list) and is refused elsewhere, because
// encoding/json would silently ignore it and the device would believe the
// field was cleared. Times are normalized to UTC at microsecond precision,
// which is what both databases store, so a value compares equal to itself
// after a round trip.
func decodeField(fi *fieldInfo, raw json.RawMessage) (reflect.Value, error) {
	if isNull(raw) {
		if fi.typ.Kind() == reflect.Pointer || fi.typ.Kind() == reflect.Slice {
			return reflect.Zero(fi.typ), nil
		}
		return reflect.Value{}, fieldError(fi.name, "must not be null")
	}
	pv := reflect.New(fi.typ)
	if err := strictUnmarshal(raw, pv.Interface()); err != nil {
		return reflect.Value{}, fieldError(fi.name, "must be "+describeType(fi.typ))
	}
	v := pv.Elem()
	switch t := v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(normTime(t)))
	case *time.Time:
		if t != nil {
			n := normTime(*t)
			v.Set(reflect.ValueOf(&n))
		}
	}
	return v, nil
}

// normTime is t as the databases store it.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// strictUnmarshal decodes exactly one JSON value into dst, refusing
// unknown object keys and anything but white space after the value.
func strictUnmarshal(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 {
		return errTrailing
	}
	return nil
}

// errTrailing reports bytes after the one JSON value a body may hold.
var errTrailing = errors.New("trailing data after the JSON value")

// describeType names a Go type in the words the protocol spec uses.
func describeType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "an RFC 3339 time"
	case t.Kind() == reflect.Pointer:
		return describeType(t.Elem()) + " or null"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "an integer"
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(describeType(t.Elem()), "a ") + "s"
	}
	return "an object"
}

// wireType names a field's JSON type for the mutation catalogue.
func wireType(fi *fieldInfo) string {
	t := fi.typ
	suffix := ""
	if t.Kind() == reflect.Pointer {
		t, suffix = t.Elem(), " or null"
	}
	var name string
	switch {
	case t == reflect.TypeFor[time.Time]():
		name = "time (RFC 3339)"
	case t.Kind() == reflect.String:
		name = "string"
	case t.Kind() == reflect.Bool:
		name = "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		name = "integer"
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		name = "number"
	case t.Kind() == reflect.Slice:
		name = "array"
	default:
		name = "object"
	}
	return name + suffix
}

// fieldValue returns the field of rec.
func fieldValue(rec domain.Record, fi *fieldInfo) reflect.Value {
	return reflect.ValueOf(rec).Elem().FieldByIndex(fi.index)
}

// canonical is the JSON of a value as the server would send it, for
// comparing values sent by a device with stored ones regardless of how the
// device spelled them.
func canonical(v reflect.Value) json.RawMessage {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		// Entities marshal by construction; a failure is a bug.
		panic(fmt.Sprintf("sync: marshal %s: %v", v.Type(), err))
	}
	return b
}

// content is the record's JSON without its Meta header: two records with
// equal content differ at most in version and audit fields. It is what
// echo detection and no-op detection compare.
func content(rec domain.Record) []byte {
	v := reflect.ValueOf(rec).Elem()
	cp := reflect.New(v.Type()).Elem()
	cp.Set(v)
	cp.FieldByName("Meta").SetZero()
	b, err := json.Marshal(cp.Addr().Interface())
	if err != nil {
		panic(fmt.Sprintf("sync: marshal %s: %v", v.Type(), err))
	}
	return b
}

// fieldError is a CodeInvalid error naming one field.
func fieldError(field, msg string) error {
	return domain.Invalid(domain.FieldError{Field: field, Message: msg})
}
