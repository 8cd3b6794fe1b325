package sync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/iswitchroofs/fieldsync/domain"
)

// updateArgs are the arguments of every "<kind>.update" mutation.
type updateArgs struct {
	// ID is the record's id.
	ID string `json:"id" sync:"required"`
	// BaseVersion is the record's version when the user made the change
	// (the version the device held).
	BaseVersion int64 `json:"base_version" sync:"required"`
	// Fields holds only the fields the user changed, by their JSON names,
	// with their new values (null clears a nullable field).
	Fields map[string]json.RawMessage `json:"fields" sync:"required"`
}

// updateSpec describes an update mutation of one kind.
type updateSpec struct {
	kind domain.EntityKind
	// fields are the fields the mutation may change.
	fields []string
	// assign are the fields whose change reassigns work and so needs
	// domain.ActionAssign on the record (a manager's call).
	assign []string
	// validate checks the record after the merge (nil: nothing to check);
	// changed tells which fields this mutation changed, so that a rule
	// about a value (an active assignee) does not refuse an unrelated edit
	// of a record that predates it.
	validate func(m *mut, rec domain.Record, changed func(field string) bool) error
	// derive recomputes server-side fields after the merge (nil: none),
	// such as a lead's score.
	derive func(m *mut, rec domain.Record)
}

// applyUpdate is the field-level merge of guarantee 5, shared by every
// update mutation:
//
//   - Only the fields sent are considered; nothing else is touched, so an
//     app never erases a field it did not send (or does not know).
//   - If the record is still at base_version, every field applies.
//   - Otherwise, per field, the record's state at base_version (from the
//     change history) tells whether the server changed it since the device
//     last saw it. Unchanged on the server: the device's value applies.
//     Changed, and the device's value differs from the server's: the first
//     committed write wins, the server's value stays, and the device gets a
//     conflict outcome listing {field, yours, server}. If the history no
//     longer reaches base_version, every field whose value differs is a
//     conflict. The other fields of the mutation still apply.
//   - A deleted record rejects the update (record_deleted: delete wins).
func (m *mut) applyUpdate(spec updateSpec) error {
	var a updateArgs
	if err := m.decodeArgs(&a); err != nil {
		return err
	}
	if a.BaseVersion < 0 {
		return fieldError("base_version", "must be a version the device received")
	}
	if len(a.Fields) == 0 {
		return fieldError("fields", "must name at least one field")
	}
	kf := fieldsOf(spec.kind)
	names := sortedKeys(a.Fields)
	values := make(map[string]reflect.Value, len(names))
	for _, name := range names {
		fi, ok := kf.byName[name]
		if !ok || !knownTo(spec.kind, name, m.schema) {
			return unknownField("fields." + name)
		}
		if !slices.Contains(spec.fields, name) {
			return fieldError("fields."+name, fmt.Sprintf("cannot be changed by %s", m.name))
		}
		v, err := decodeField(fi, a.Fields[name])
		if err != nil {
			return prefixField(err, "fields.")
		}
		values[name] = v
	}

	rec, anchor, err := m.find(spec.kind, a.ID, domain.ActionUpdate)
	if err != nil {
		return err
	}
	current := rec.Base().Version
	before := content(rec)

	// Reassigning needs more than editing, but only when the value
	// actually changes: a rep re-sending their own id is no reassignment.
	for _, name := range names {
		if slices.Contains(spec.assign, name) && !sameValue(values[name], fieldValue(rec, kf.byName[name])) {
			if err := m.authorize(domain.ActionAssign, anchor); err != nil {
				return err
			}
			break
		}
	}

	var base domain.Record
	baseKnown := true
	if current > a.BaseVersion {
		state, ok, err := m.tx.StateAt(spec.kind, a.ID, a.BaseVersion)
		if err != nil {
			return err
		}
		if ok {
			base = kf.newRecord()
			if err := json.Unmarshal(state, base); err != nil {
				return fmt.Errorf("sync: decode %s state at %d: %w", spec.kind, a.BaseVersion, err)
			}
		} else {
			baseKnown = false
		}
	}

	changed := map[string]bool{}
	for _, name := range names {
		fi := kf.byName[name]
		now := fieldValue(rec, fi)
		mine := values[name]
		switch {
		case current <= a.BaseVersion, sameValue(mine, now):
			// The device saw the latest value, or agrees with it.
		case baseKnown && sameValue(fieldValue(base, fi), now):
			// The server did not touch this field since the device's base.
		default:
			m.conflicts = append(m.conflicts, FieldConflict{Field: name, Yours: canonical(mine), Server: canonical(now)})
			continue
		}
		changed[name] = !sameValue(mine, now)
		now.Set(mine)
	}

	if spec.validate != nil {
		if err := spec.validate(m, rec, func(f string) bool { return changed[f] }); err != nil {
			return err
		}
	}
	view := viewIf(rec, a.BaseVersion, current)
	if len(m.conflicts) > 0 {
		view = nil
	}
	if spec.derive != nil {
		spec.derive(m, rec)
	}
	return m.update(rec, before, view)
}

// sameValue compares two values of one field by their JSON, the form in
// which devices and the change history hold them.
func sameValue(a, b reflect.Value) bool {
	return bytes.Equal(canonical(a), canonical(b))
}

// prefixField prefixes the field names of a CodeInvalid error.
func prefixField(err error, prefix string) error {
	de, ok := err.(*domain.Error)
	if !ok || len(de.Fields) == 0 {
		return err
	}
	fields := make([]domain.FieldError, len(de.Fields))
	for i, f := range de.Fields {
		fields[i] = domain.FieldError{Field: prefix + f.Field, Message: f.Message}
	}
	return domain.Invalid(fields...)
}

// conflictMessage words a conflict outcome for the user.
func conflictMessage(cs []FieldConflict) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Field
	}
	verb := "was"
	if len(cs) > 1 {
		verb = "were"
	}
	return fmt.Sprintf("%s %s changed by someone else first; their value was kept", strings.Join(names, ", "), verb)
}
