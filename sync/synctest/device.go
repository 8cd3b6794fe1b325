// Package synctest drives the sync engine the way a phone does, for tests:
// a Device registers, pushes mutations with consecutive ids, pulls page by
// page into a local copy of its scope (staging reset sessions and swapping
// them in at their end, as the protocol asks), acknowledges outcomes, and
// computes the same checksums as the server, so a test can compare what a
// device holds with what its user may see; ServerScope and RequireScope
// (scope.go) compare it record by record and field by field with the
// store's own view of that scope.
//
// It imports only domain and sync: any store can sit behind the engine.
package synctest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// NewID returns a random lowercase UUID (version 4), the form the protocol
// wants for client ids and record ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Key names a record of the local copy.
type Key struct {
	Kind domain.EntityKind
	ID   string
}

// Record is a record of the local copy: its version and its data as last
// put (an op version moves only the version).
type Record struct {
	Version int64
	Data    json.RawMessage
}

// Device is one simulated phone install. It is not safe for concurrent use
// (a phone syncs one request at a time); use one Device per goroutine.
type Device struct {
	Engine    *fsync.Engine
	Principal domain.Principal
	ClientID  string
	// Schema is the app's schema version; Protocol its protocol version.
	Schema, Protocol int
	// Limit is the page size it asks for (0: the server's default).
	Limit int
	// Next is the id its next mutation gets.
	Next int64
	// Pending are the mutations made and not yet covered by the
	// last_mutation_id of a pull that ended (has_more false), in id order:
	// a client keeps them that long, to apply them to its copy when an op
	// version confirms them, skipping the ones rejected.
	Pending []fsync.Mutation
	// Cursor is the last cursor received.
	Cursor string
	// Records is the committed local copy.
	Records map[Key]Record
	// Outcomes are the outcomes received, by mutation id; Acked is what
	// the next pull acknowledges.
	Outcomes map[int64]fsync.Outcome
	Acked    int64
	// LastMutationID is the last one the server reported processed.
	LastMutationID int64
	// Resets are the reasons of the reset sessions started, in order.
	Resets []string
	// Violations are breaches of the protocol seen in answers (an op
	// version for a record the device does not hold); RequireConverged
	// fails on any.
	Violations []string

	// staging holds a reset session's records until its last page.
	staging map[Key]Record
}

// NewDevice registers a new install of the app for p on the current schema.
func NewDevice(tb testing.TB, e *fsync.Engine, p domain.Principal) *Device {
	tb.Helper()
	return NewDeviceSchema(tb, e, p, fsync.SchemaVersion)
}

// NewDeviceSchema registers a new install for p whose app speaks schema.
func NewDeviceSchema(tb testing.TB, e *fsync.Engine, p domain.Principal, schema int) *Device {
	tb.Helper()
	d := &Device{
		Engine: e, Principal: p, ClientID: NewID(), Schema: schema, Protocol: fsync.ProtocolVersion,
		Next: 1, Records: map[Key]Record{}, Outcomes: map[int64]fsync.Outcome{},
	}
	_, err := e.RegisterDevice(context.Background(), p, fsync.DeviceRegistration{
		Versions: d.versions(), ClientID: d.ClientID, Platform: domain.PlatformIOS, PushToken: "token-" + d.ClientID,
	})
	if err != nil {
		tb.Fatalf("synctest: register device: %v", err)
	}
	return d
}

func (d *Device) versions() fsync.Versions {
	return fsync.Versions{ProtocolVersion: d.Protocol, SchemaVersion: d.Schema, AppVersion: fmt.Sprintf("test-%d", d.Schema)}
}

// Mutation makes the device's next mutation (allocating its id).
func (d *Device) Mutation(name string, args any) fsync.Mutation {
	raw, err := json.Marshal(args)
	if err != nil {
		panic(fmt.Sprintf("synctest: marshal args of %s: %v", name, err))
	}
	m := fsync.Mutation{ID: d.Next, Name: name, Args: raw}
	d.Next++
	d.Pending = append(d.Pending, m)
	return m
}

// PushRequest wraps mutations in a request from this device.
func (d *Device) PushRequest(ms ...fsync.Mutation) fsync.PushRequest {
	if ms == nil {
		ms = []fsync.Mutation{}
	}
	return fsync.PushRequest{Versions: d.versions(), ClientID: d.ClientID, Mutations: ms}
}

// Push sends the mutations as one batch.
func (d *Device) Push(ctx context.Context, ms ...fsync.Mutation) (fsync.PushResponse, error) {
	resp, err := d.Engine.Push(ctx, d.Principal, d.PushRequest(ms...))
	if err == nil {
		d.LastMutationID = max(d.LastMutationID, resp.LastMutationID)
	}
	return resp, err
}

// MustPush makes one mutation and pushes it, failing the test on an error
// (a rejection is not an error: it arrives on the next pull).
func (d *Device) MustPush(tb testing.TB, name string, args any) fsync.Mutation {
	tb.Helper()
	m := d.Mutation(name, args)
	resp, err := d.Push(context.Background(), m)
	if err != nil {
		tb.Fatalf("synctest: push %s: %v", name, err)
	}
	if resp.Gap != nil || resp.LastMutationID < m.ID {
		tb.Fatalf("synctest: push %s: not processed: %+v", name, resp)
	}
	return m
}

// PullRequest is the request the device's next pull sends.
func (d *Device) PullRequest() fsync.PullRequest {
	return fsync.PullRequest{Versions: d.versions(), ClientID: d.ClientID, Cursor: d.Cursor, Limit: d.Limit, AckOutcomesThrough: d.Acked}
}

// PullPage pulls one page with req and applies it (or stages it, inside a
// reset session), then keeps its cursor and outcomes.
func (d *Device) PullPage(ctx context.Context, req fsync.PullRequest) (fsync.PullResponse, error) {
	resp, err := d.Engine.Pull(ctx, d.Principal, req)
	if err != nil {
		return resp, err
	}
	d.Apply(resp)
	return resp, nil
}

// Apply applies one pull page to the local copy as a client must.
func (d *Device) Apply(resp fsync.PullResponse) {
	if resp.Reset {
		d.Resets = append(d.Resets, resp.ResetReason)
		// The session replaces the reset kinds and carries the rest.
		d.staging = maps.Clone(d.Records)
		for k := range d.staging {
			if len(resp.ResetKinds) == 0 || slices.Contains(resp.ResetKinds, k.Kind) {
				delete(d.staging, k)
			}
		}
	}
	target := d.Records
	if d.staging != nil {
		target = d.staging
	}
	// Outcomes first: an op version must not rebuild a record with a
	// mutation of the same page's (or an earlier) rejection, which the
	// server rolled back.
	for _, o := range resp.Outcomes {
		d.Outcomes[o.MutationID] = o
		d.Acked = max(d.Acked, o.MutationID)
	}
	for _, c := range resp.Changes {
		k := Key{c.Kind, c.ID}
		switch c.Op {
		case fsync.OpPut:
			target[k] = Record{Version: c.Version, Data: c.Data}
		case fsync.OpDelete:
			delete(target, k)
		case fsync.OpVersion:
			d.confirm(target, k, c)
		}
	}
	if d.staging != nil && !resp.HasMore {
		d.Records, d.staging = d.staging, nil
	}
	d.Cursor = resp.Cursor
	d.LastMutationID = max(d.LastMutationID, resp.LastMutationID)
	if !resp.HasMore {
		// Only a pull that ended has delivered the changes of every
		// mutation up to last_mutation_id: a later page of the same pull
		// may still confirm one of them with an op version, which the
		// device rebuilds from the mutation.
		d.Pending = slices.DeleteFunc(d.Pending, func(m fsync.Mutation) bool { return m.ID <= resp.LastMutationID })
	}
}

// confirm applies an op version: the record becomes the device's copy with
// its own mutations of it up to c.MutationID applied, at c.Version, except
// those the server rejected (their outcome arrives with the page at the
// latest: it commits before any later mutation does).
func (d *Device) confirm(target map[Key]Record, k Key, c fsync.Change) {
	r, had := target[k]
	data := r.Data
	if !had {
		data = nil
	}
	applied := 0
	for _, m := range d.Pending {
		if m.ID > c.MutationID {
			break
		}
		if o, ok := d.Outcomes[m.ID]; ok && o.Kind == domain.OutcomeRejected {
			continue // rolled back: not part of what the server stored
		}
		if kind, id := Target(m); kind == k.Kind && id == k.ID {
			data = d.apply(data, m)
			applied++
		}
	}
	if applied == 0 || data == nil {
		// The server says the device holds the result, but it has neither
		// the record nor the mutation that made it: a protocol bug.
		d.Violations = append(d.Violations, fmt.Sprintf("op version for %s %s (mutation %d) that the device cannot rebuild",
			c.Kind, c.ID, c.MutationID))
		return
	}
	target[k] = Record{Version: c.Version, Data: data}
}

// Target is the record a mutation acts on, by the protocol's conventions:
// the kind before the dot of its name, and its "id" argument.
func Target(m fsync.Mutation) (domain.EntityKind, string) {
	kind, _, _ := strings.Cut(m.Name, ".")
	var args struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(m.Args, &args)
	return domain.EntityKind(kind), args.ID
}

// ApplyLocal is what a client does to its copy of a record (nil: none) to
// show a mutation before the server confirms it: an update patches the
// fields it names, a create makes the record from its arguments, a delete
// removes it, any other mutation sets the arguments it names (a status
// change its status), and a create the defaults the spec makes the
// client's (fsync.CreateDefaults, for user and schema). It is an
// approximation good enough for tests: only the mutations' arguments are
// known here, not the server's other derived fields.
func ApplyLocal(data json.RawMessage, m fsync.Mutation, user string, schema int) json.RawMessage {
	if strings.HasSuffix(m.Name, ".delete") {
		return nil
	}
	obj := map[string]json.RawMessage{}
	if data != nil {
		_ = json.Unmarshal(data, &obj)
	}
	var args map[string]json.RawMessage
	_ = json.Unmarshal(m.Args, &args)
	if fields, ok := args["fields"]; ok {
		var patch map[string]json.RawMessage
		_ = json.Unmarshal(fields, &patch)
		maps.Copy(obj, patch)
	} else {
		delete(args, "base_version")
		maps.Copy(obj, args)
	}
	for f, v := range fsync.CreateDefaults(m.Name, user, schema) {
		if _, ok := obj[f]; !ok {
			obj[f], _ = json.Marshal(v)
		}
	}
	switch m.Name {
	case "appointment.cancel":
		obj["status"] = json.RawMessage(`"cancelled"`)
	case "appointment.complete":
		obj["status"] = json.RawMessage(`"completed"`)
	}
	out, _ := json.Marshal(obj)
	return out
}

// apply is ApplyLocal as this device (its user and schema).
func (d *Device) apply(data json.RawMessage, m fsync.Mutation) json.RawMessage {
	return ApplyLocal(data, m, d.Principal.UserID, d.Schema)
}

// Staging reports whether the device is inside a reset session.
func (d *Device) Staging() bool { return d.staging != nil }

// Pull pulls pages until has_more is false and returns them.
func (d *Device) Pull(ctx context.Context) ([]fsync.PullResponse, error) {
	var pages []fsync.PullResponse
	for i := 0; ; i++ {
		if i > 100_000 {
			return pages, fmt.Errorf("synctest: pull did not end after %d pages", i)
		}
		resp, err := d.PullPage(ctx, d.PullRequest())
		if err != nil {
			return pages, err
		}
		pages = append(pages, resp)
		if !resp.HasMore {
			return pages, nil
		}
	}
}

// MustPull is Pull that fails the test on an error.
func (d *Device) MustPull(tb testing.TB) []fsync.PullResponse {
	tb.Helper()
	pages, err := d.Pull(context.Background())
	if err != nil {
		tb.Fatalf("synctest: pull: %v", err)
	}
	return pages
}

// Has reports whether the local copy holds the record.
func (d *Device) Has(kind domain.EntityKind, id string) bool {
	_, ok := d.Records[Key{kind, id}]
	return ok
}

// Get returns a record of the local copy.
func (d *Device) Get(kind domain.EntityKind, id string) (Record, bool) {
	r, ok := d.Records[Key{kind, id}]
	return r, ok
}

// Field decodes one field of a local record's data into dst; false if the
// record or the field is missing.
func (d *Device) Field(kind domain.EntityKind, id, field string, dst any) bool {
	r, ok := d.Get(kind, id)
	if !ok {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Data, &m) != nil {
		return false
	}
	raw, ok := m[field]
	if !ok {
		return false
	}
	return json.Unmarshal(raw, dst) == nil
}

// Checksums computes, over the local copy, what the server's Checksums
// answers over the scope: per synced kind the count and the SHA-256 of the
// "id:version\n" lines sorted by id.
func (d *Device) Checksums() []domain.ScopePart {
	out := make([]domain.ScopePart, 0, len(domain.SyncedKinds()))
	for _, kind := range domain.SyncedKinds() {
		var lines []string
		for k, r := range d.Records {
			if k.Kind == kind {
				lines = append(lines, fmt.Sprintf("%s:%d\n", k.ID, r.Version))
			}
		}
		slices.Sort(lines)
		h := sha256.New()
		for _, l := range lines {
			h.Write([]byte(l))
		}
		out = append(out, domain.ScopePart{Kind: kind, Count: len(lines), Hash: hex.EncodeToString(h.Sum(nil))})
	}
	return out
}

// Mismatch compares the device's checksums with the server's and returns
// the kinds that differ (none when the local copy is the scope).
func (d *Device) Mismatch(ctx context.Context) ([]domain.EntityKind, error) {
	server, err := d.Engine.Checksums(ctx, d.Principal, d.ClientID)
	if err != nil {
		return nil, err
	}
	local := d.Checksums()
	var bad []domain.EntityKind
	for i, part := range server.Parts {
		if i >= len(local) || local[i] != part {
			bad = append(bad, part.Kind)
		}
	}
	return bad, nil
}

// RequireConverged fails the test unless the local copy is exactly the
// user's scope on the server (checked by checksums).
func (d *Device) RequireConverged(tb testing.TB) {
	tb.Helper()
	if len(d.Violations) > 0 {
		tb.Fatalf("synctest: device %s saw protocol violations: %v", d.ClientID, d.Violations)
	}
	bad, err := d.Mismatch(context.Background())
	if err != nil {
		tb.Fatalf("synctest: checksums: %v", err)
	}
	if len(bad) > 0 {
		tb.Fatalf("synctest: device %s of %s (%s) differs from its scope in %v", d.ClientID, d.Principal.UserID, d.Principal.Role, bad)
	}
}

// Clone copies the device's state (a second process resuming it, or a
// test replaying from a saved point). The copy shares the engine.
func (d *Device) Clone() *Device {
	cp := *d
	cp.Records = maps.Clone(d.Records)
	cp.Outcomes = maps.Clone(d.Outcomes)
	cp.Resets = slices.Clone(d.Resets)
	cp.Pending = slices.Clone(d.Pending)
	cp.Violations = slices.Clone(d.Violations)
	if d.staging != nil {
		cp.staging = maps.Clone(d.staging)
	}
	return &cp
}
