package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/iswitchroofs/fieldsync/domain"
)

// mut is one mutation being applied inside its transaction. A handler reads
// its arguments from it, loads and authorizes records through it, and
// writes through create, update and derived, which tag each write with the
// mutation and whether the device already holds the result (no echo).
// A fresh mut is built for every transaction attempt, so nothing leaks from
// an attempt the database rolled back and retried.
type mut struct {
	ctx      context.Context
	tx       domain.SyncTx
	p        domain.Principal
	clientID string
	id       int64
	name     string
	args     json.RawMessage
	// schema is the pushing app's schema version: fields newer than it
	// are unknown to it.
	schema   int
	settings domain.OrgSettings
	// conflicts are the fields this mutation lost (first committed wins);
	// the push records them as a conflict outcome in the same transaction.
	conflicts []FieldConflict
}

// handler applies one mutation; any error rolls its transaction back.
type handler func(m *mut) error

// mutationDef is a registered mutation: its documentation and its handler.
type mutationDef struct {
	info  MutationInfo
	apply handler
}

// MutationInfo documents one mutation for the protocol spec.
type MutationInfo struct {
	Name    string
	Summary string
	// Args lists the argument keys with their JSON types; for update
	// mutations, Fields lists what "fields" may hold.
	Args   []ArgInfo
	Fields []ArgInfo
	// Rejections are the codes this mutation can be rejected with
	// (besides internal, which any mutation can get).
	Rejections []RejectionCode
	// Echo says when the device's own change comes back as op "version"
	// rather than a full put.
	Echo string
}

// ArgInfo is one argument or field of a mutation.
type ArgInfo struct {
	Name     string
	Type     string
	Required bool
	// Since is the schema version that introduced a field (0 or 1: the
	// first schema).
	Since int
	Note  string
}

// registry maps mutation names to their definitions, gathered from the
// handler files (one list per entity family).
var registry = func() map[string]*mutationDef {
	defs := slices.Concat(leadMutations(), recordMutations(), appointmentMutations(),
		interactionMutations(), photoMutations(), alertMutations())
	out := make(map[string]*mutationDef, len(defs))
	for _, d := range defs {
		if _, dup := out[d.info.Name]; dup {
			panic("sync: mutation registered twice: " + d.info.Name)
		}
		out[d.info.Name] = d
	}
	return out
}()

// Catalogue lists every mutation the server applies, by name, with its
// arguments and the rejection codes it can produce.
func Catalogue() []MutationInfo {
	out := make([]MutationInfo, 0, len(registry))
	for _, d := range registry {
		out = append(out, d.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// --- arguments -------------------------------------------------------------

// decodeArgs decodes the mutation's arguments into dst, a pointer to a
// struct whose json tags are the argument names. A key dst does not have
// is unknown_field; a value of the wrong type is invalid_args naming it.
// Fields tagged `sync:"required"` must be present and not empty.
func (m *mut) decodeArgs(dst any) error {
	obj, err := argObject(m.args)
	if err != nil {
		return err
	}
	t := reflect.TypeOf(dst).Elem()
	names := map[string]reflect.StructField{}
	for _, f := range reflect.VisibleFields(t) {
		if name := jsonName(f); name != "" {
			names[name] = f
		}
	}
	for _, k := range sortedKeys(obj) {
		if _, ok := names[k]; !ok {
			return unknownField(k)
		}
	}
	v := reflect.ValueOf(dst).Elem()
	for _, k := range sortedKeys(obj) {
		f := names[k]
		fi := &fieldInfo{name: k, index: f.Index, typ: f.Type}
		val, err := decodeField(fi, obj[k])
		if err != nil {
			return err
		}
		v.FieldByIndex(f.Index).Set(val)
	}
	for name, f := range names {
		if f.Tag.Get("sync") == "required" && v.FieldByIndex(f.Index).IsZero() {
			return fieldError(name, "is required")
		}
	}
	return nil
}

// argObject parses the arguments as a JSON object.
func argObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fieldError("args", "must be a JSON object")
	}
	return obj, nil
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() || f.Anonymous {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeRecord builds a new record of kind from a create mutation's
// arguments: every key must be one of allowed (the entity's JSON field
// names), known to the app's schema; "id" is the client-generated id.
// The remaining fields keep their zero values for the handler to default.
func (m *mut) decodeRecord(kind domain.EntityKind, allowed []string) (domain.Record, error) {
	obj, err := argObject(m.args)
	if err != nil {
		return nil, err
	}
	kf := fieldsOf(kind)
	rec := kf.newRecord()
	for _, k := range sortedKeys(obj) {
		fi, ok := kf.byName[k]
		if !ok || (k != "id" && !slices.Contains(allowed, k)) || !knownTo(kind, k, m.schema) {
			return nil, unknownField(k)
		}
		val, err := decodeField(fi, obj[k])
		if err != nil {
			return nil, err
		}
		fieldValue(rec, fi).Set(val)
	}
	if !validID(rec.Base().ID) {
		return nil, fieldError("id", idMessage)
	}
	// The anchor of the new record is judged before it is stored, and an
	// anchor without the organization is visible to no one.
	rec.Base().OrgID = m.p.OrgID
	return rec, nil
}

// --- records and access ----------------------------------------------------

// find loads a record the caller may act on: it must exist and be in the
// caller's scope (otherwise not_found, worded the same either way), the
// caller's role must allow act (forbidden), and it must not be deleted
// (record_deleted: delete wins). It returns the record and its anchor.
func (m *mut) find(kind domain.EntityKind, id string, act domain.Action) (domain.Record, domain.Anchor, error) {
	if !validID(id) {
		return nil, domain.Anchor{}, notFound(kind)
	}
	rec, err := m.tx.Find(kind, id)
	if domain.IsCode(err, domain.CodeNotFound) {
		return nil, domain.Anchor{}, notFound(kind)
	}
	if err != nil {
		return nil, domain.Anchor{}, err
	}
	a, err := m.anchorOf(rec)
	if err != nil {
		return nil, domain.Anchor{}, err
	}
	if err := m.authorize(act, a); err != nil {
		return nil, domain.Anchor{}, err
	}
	if sd, ok := rec.(domain.SoftDeletable); ok && sd.Deleted() != nil {
		return nil, domain.Anchor{}, deleted(kind)
	}
	return rec, a, nil
}

// authorize is domain.Authorize with the protocol's uniform not-found
// wording.
func (m *mut) authorize(act domain.Action, a domain.Anchor) error {
	err := domain.Authorize(m.p, act, a)
	if domain.IsCode(err, domain.CodeNotFound) {
		return notFound(a.Kind)
	}
	return err
}

// parent loads a record a new or changed record will hang under (named by
// field): it must exist, be visible to the caller and not be deleted.
func (m *mut) parent(kind domain.EntityKind, id, field string) (domain.Record, error) {
	rec, _, err := m.find(kind, id, domain.ActionRead)
	if err != nil {
		var r *rejection
		if errors.As(err, &r) {
			r.message = field + ": " + r.message
		}
		return nil, err
	}
	return rec, nil
}

// anchorOf resolves the record's access anchor inside the transaction, from
// the record and the lead and project it hangs under, following the same
// references as the store's ResolveAnchor: a project's lead and customer,
// a customer's lead. Parents are read with tombstones, because what hangs
// under a deleted lead still belongs to the same people.
func (m *mut) anchorOf(rec domain.Record) (domain.Anchor, error) {
	var leadID, projectID, customerID string
	switch r := rec.(type) {
	case *domain.Customer:
		leadID = r.LeadID
	case *domain.Project:
		leadID, customerID = r.LeadID, r.CustomerID
	case *domain.Interaction:
		leadID, projectID, customerID = r.LeadID, r.ProjectID, r.CustomerID
	case *domain.Appointment:
		leadID, projectID, customerID = r.LeadID, r.ProjectID, r.CustomerID
	case *domain.Photo:
		projectID = r.ProjectID
	case *domain.Alert:
		leadID = r.LeadID
	}
	project, _ := rec.(*domain.Project)
	if project == nil && projectID != "" {
		p, err := findAs[*domain.Project](m.tx, domain.KindProject, projectID)
		if err != nil {
			return domain.Anchor{}, err
		}
		project = p
	}
	if project != nil {
		if leadID == "" {
			leadID = project.LeadID
		}
		if customerID == "" {
			customerID = project.CustomerID
		}
	}
	if _, isCustomer := rec.(*domain.Customer); leadID == "" && customerID != "" && !isCustomer {
		c, err := findAs[*domain.Customer](m.tx, domain.KindCustomer, customerID)
		if err != nil {
			return domain.Anchor{}, err
		}
		if c != nil {
			leadID = c.LeadID
		}
	}
	lead, _ := rec.(*domain.Lead)
	if lead == nil && leadID != "" {
		l, err := findAs[*domain.Lead](m.tx, domain.KindLead, leadID)
		if err != nil {
			return domain.Anchor{}, err
		}
		lead = l
	}
	return domain.AnchorFor(rec, lead, project), nil
}

// findAs loads a parent record; nil (no error) if it does not exist.
func findAs[T domain.Record](tx domain.Tx, kind domain.EntityKind, id string) (T, error) {
	var zero T
	if !validID(id) {
		return zero, nil
	}
	rec, err := tx.Find(kind, id)
	if domain.IsCode(err, domain.CodeNotFound) {
		return zero, nil
	}
	if err != nil {
		return zero, err
	}
	t, ok := rec.(T)
	if !ok {
		return zero, fmt.Errorf("sync: %s %s loaded as %T", kind, id, rec)
	}
	return t, nil
}

// activeUser checks that id names an active team member (an assignee).
func (m *mut) activeUser(id, field string) error {
	u, err := findAs[*domain.User](m.tx, domain.KindUser, id)
	if err != nil {
		return err
	}
	if u == nil || !u.Active {
		return fieldError(field, "must be an active team member")
	}
	return nil
}

// --- writes ----------------------------------------------------------------

// create inserts rec. view is the record as the device holds it after
// applying this mutation locally (nil if the server cannot know that): when
// the stored record has the same content, the change is tagged echo-only
// and the device gets back just the version.
func (m *mut) create(rec domain.Record, view []byte) error {
	m.tag(rec, view)
	err := m.tx.Create(rec)
	if domain.IsCode(err, domain.CodeConflict) {
		return reject(RejectAlreadyExists, nil, "a %s with this id already exists", noun(rec.EntityKind()))
	}
	return err
}

// update saves rec unless its content equals before (nothing to write: no
// new version, no change for anyone). view is as for create.
func (m *mut) update(rec domain.Record, before, view []byte) error {
	if bytes.Equal(content(rec), before) {
		return nil
	}
	m.tag(rec, view)
	return m.tx.Update(rec)
}

// derived writes a record the mutation changed as a consequence (a lead's
// interaction count, …): the device cannot know the result, so it is never
// echo-only.
func (m *mut) derived(rec domain.Record) error {
	m.origin(false)
	return m.tx.Update(rec)
}

func (m *mut) tag(rec domain.Record, view []byte) {
	m.origin(view != nil && bytes.Equal(view, content(rec)))
}

// origin tags the change rows written next with this mutation.
func (m *mut) origin(echoOnly bool) {
	m.tx.SetOrigin(domain.ChangeOrigin{ClientID: m.clientID, MutationID: m.id, EchoOnly: echoOnly})
}

// viewIf returns the record's content as the device computed it, if the
// device's base is the record's current version (otherwise the device
// lacks later server changes and must get the full record).
func viewIf(rec domain.Record, baseVersion, currentVersion int64) []byte {
	if baseVersion == 0 || baseVersion != currentVersion {
		return nil
	}
	return content(rec)
}
