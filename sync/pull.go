package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Reasons a pull starts a reset (snapshot) session, as sent in
// PullResponse.ResetReason.
const (
	ResetInitial        = "initial_sync"    // empty cursor: a new device or a wiped app
	ResetCursorInvalid  = "cursor_invalid"  // the cursor is not one this server issued
	ResetEpoch          = "epoch_changed"   // the database was restored or re-imported
	ResetForeignCursor  = "cursor_foreign"  // the cursor is another user's or organization's
	ResetCursorAhead    = "cursor_ahead"    // the cursor is past the server's history (restored database)
	ResetHistoryExpired = "history_expired" // the cursor is older than the kept change history
	ResetRoleChanged    = "role_changed"    // the user's role changed: the scope has another shape
	ResetRepair         = "repair"          // the device asked for RepairKinds after a checksum mismatch
)

// Pull answers one page of a device's sync.
//
// With an incremental cursor it returns the changes after the cursor that
// the user may see, read from the change log in whole transactions (a page
// never holds half of a server transaction): per record only its last
// state in the page, puts (in SyncedKinds order, parents first) and then
// deletes (children first). A record that left the user's scope arrives as
// a delete; one that entered it (a reassignment) as a put, even if it did
// not change. A change the device made itself and the server stored
// exactly as the device computed it comes back as op "version" (no echo).
// has_more says to pull again at once.
//
// A reset session streams the whole scope instead (or just RepairKinds),
// kind by kind in SyncedKinds order, at most limit records per page, then
// continues incrementally from where the snapshot began, so that the
// session ends (has_more false) consistent with one point in time. The
// first page carries Reset; the device stages the session's pages and
// swaps them in at its end. Any page's cursor may be sent again to resume
// after a dropped connection. Resets happen on an empty cursor (the first
// sync: Reset is set then too, so the device has one code path), a cursor
// that does not decode, names another epoch, organization or user, lies
// ahead of the organization's history or behind its retained floor, or a
// role different from the user's current one (or a change of role the log
// shows since the cursor, even one undone since); see the Reset* reasons.
//
// Every page carries the device's LastMutationID (read before the changes,
// so every mutation up to it is covered once has_more is false) and its
// outcomes after AckOutcomesThrough. The completed pull is recorded
// (cursor, role, time) for Explain.
//
// Errors: CodeUpgradeRequired, CodeInvalid, CodeNotFound (unknown client),
// CodeForbidden (another user's client), CodeUnavailable.
func (e *Engine) Pull(ctx context.Context, p domain.Principal, req PullRequest) (resp PullResponse, err error) {
	start := time.Now()
	var stats PullStats
	defer func() {
		if e.metrics != nil {
			stats.Duration, stats.Err = time.Since(start), err
			stats.Changes, stats.Outcomes = len(resp.Changes), len(resp.Outcomes)
			e.metrics.PullDone(stats)
		}
	}()
	if err := validatePull(req); err != nil {
		return PullResponse{}, err
	}
	c, err := e.client(ctx, p, req.ClientID)
	if err != nil {
		return PullResponse{}, err
	}
	st, err := e.store.SyncState(ctx, p.OrgID)
	if err != nil {
		return PullResponse{}, fmt.Errorf("sync: pull: sync state: %w", err)
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultPullLimit
	}
	limit = min(limit, MaxPullLimit)

	cur, reason := e.position(p, c, st, req)
	if reason != "" {
		e.log.InfoContext(ctx, "sync reset", "client_id", c.ID, "user_id", p.UserID, "reason", reason)
		resp.Reset, resp.ResetReason, resp.ResetKinds = true, reason, slices.Clone(cur.Repair)
		stats.ResetReason = reason
	}
	cur.Ack = req.AckOutcomesThrough
	resp.LastMutationID = c.LastMutationID
	resp.Changes = []Change{}
	f := domain.ScopeFilter{OrgID: p.OrgID, UserID: p.UserID, Role: p.Role}
	if cur.Mode == ModeSnapshot {
		stats.Snapshot = true
		cur, resp.Changes, err = e.snapshotPage(ctx, f, cur, limit, req.SchemaVersion)
		resp.HasMore = true // the log from the snapshot's start follows
	} else {
		var more, roleMoved bool
		var own int64
		cur, resp.Changes, own, more, roleMoved, err = e.incrementalPage(ctx, f, cur, limit, req.ClientID, req.SchemaVersion)
		resp.HasMore = more
		// A push may have committed between reading the client and
		// reading the log: the page then holds the device's own changes
		// of mutations past the LastMutationID read, which the device
		// must be able to match with its pending ones.
		resp.LastMutationID = max(resp.LastMutationID, own)
		if err == nil && roleMoved {
			// See incrementalPage: the log cannot be trusted for this
			// device any more; the page becomes a reset's first.
			e.log.InfoContext(ctx, "sync reset", "client_id", c.ID, "user_id", p.UserID, "reason", ResetRoleChanged)
			cur = freshCursor(p, st)
			cur.Ack = req.AckOutcomesThrough
			resp.Reset, resp.ResetReason, resp.ResetKinds = true, ResetRoleChanged, nil
			resp.LastMutationID = c.LastMutationID
			stats.ResetReason, stats.Snapshot = ResetRoleChanged, true
			cur, resp.Changes, err = e.snapshotPage(ctx, f, cur, limit, req.SchemaVersion)
			resp.HasMore = true
		}
	}
	if err != nil {
		return PullResponse{}, err
	}
	outcomes, err := e.store.Outcomes(ctx, p.OrgID, c.ID, req.AckOutcomesThrough)
	if err != nil {
		return PullResponse{}, fmt.Errorf("sync: pull: outcomes: %w", err)
	}
	resp.Outcomes = wireOutcomes(outcomes)
	resp.Cursor = cur.Encode()
	resp.ServerTime = e.now()
	if err := e.store.TouchPull(ctx, p.OrgID, c.ID, resp.Cursor, p.Role, resp.ServerTime); err != nil {
		return PullResponse{}, fmt.Errorf("sync: pull: record pull: %w", err)
	}
	return resp, nil
}

// position decodes the device's cursor and decides where this page starts:
// the cursor's position, or a new snapshot session and the reason for it.
func (e *Engine) position(p domain.Principal, c *domain.SyncClient, st domain.OrgSyncState, req PullRequest) (Cursor, string) {
	fresh := func(reason string) (Cursor, string) {
		return freshCursor(p, st), reason
	}
	if req.Cursor == "" {
		return fresh(ResetInitial)
	}
	cur, err := DecodeCursor(req.Cursor)
	switch {
	case err != nil:
		e.log.Info("sync cursor refused", "client_id", c.ID, "err", err)
		return fresh(ResetCursorInvalid)
	case cur.Epoch != st.Epoch:
		return fresh(ResetEpoch)
	case cur.OrgID != p.OrgID || cur.UserID != p.UserID:
		return fresh(ResetForeignCursor)
	case cur.Role != p.Role || (c.Role != "" && c.Role != p.Role):
		return fresh(ResetRoleChanged)
	case cur.Seq > st.Seq || cur.Start > st.Seq:
		return fresh(ResetCursorAhead)
	case cur.Seq < st.Floor:
		return fresh(ResetHistoryExpired)
	}
	if len(req.RepairKinds) > 0 && !cur.Session {
		// Only the kinds asked for are re-sent, as of now (S0); the log
		// resumes from the device's own position, and skips the repaired
		// kinds' changes up to S0, which the snapshot already holds.
		kinds := orderKinds(req.RepairKinds)
		if len(cur.Repair) > 0 {
			// A repair within a repair: keep skipping the earlier kinds
			// up to the earlier start too, by widening to both sets.
			kinds = orderKinds(append(kinds, cur.Repair...))
		}
		return Cursor{
			Format: CursorFormat, Epoch: st.Epoch, OrgID: p.OrgID, UserID: p.UserID, Role: p.Role,
			Mode: ModeSnapshot, Seq: cur.Seq, Start: st.Seq, Kinds: kinds, Repair: kinds, Session: true,
		}, ResetRepair
	}
	// A repair asked for in the middle of a reset session is ignored: a
	// nested session would make the device drop what it has staged, and
	// checksums are only comparable once a session has ended.
	return cur, ""
}

// freshCursor starts a full reset session at the organization's sequence.
func freshCursor(p domain.Principal, st domain.OrgSyncState) Cursor {
	return Cursor{
		Format: CursorFormat, Epoch: st.Epoch, OrgID: p.OrgID, UserID: p.UserID, Role: p.Role,
		Mode: ModeSnapshot, Seq: st.Seq, Start: st.Seq, Kinds: domain.SyncedKinds(), Session: true,
	}
}

// orderKinds returns the distinct kinds in SyncedKinds order.
func orderKinds(kinds []domain.EntityKind) []domain.EntityKind {
	var out []domain.EntityKind
	for _, k := range domain.SyncedKinds() {
		if slices.Contains(kinds, k) {
			out = append(out, k)
		}
	}
	return out
}

// snapshotPage streams up to limit live records of the cursor's kinds,
// holding no more than one page in memory. When the last kind is done the
// cursor turns incremental at the snapshot's resume point.
func (e *Engine) snapshotPage(ctx context.Context, f domain.ScopeFilter, cur Cursor, limit, schema int) (Cursor, []Change, error) {
	changes := make([]Change, 0, min(limit, 64))
	for len(cur.Kinds) > 0 && len(changes) < limit {
		kind := cur.Kinds[0]
		want := limit - len(changes)
		recs, err := e.store.SnapshotPage(ctx, f, kind, cur.After, want)
		if err != nil {
			return cur, nil, fmt.Errorf("sync: pull: snapshot of %s: %w", kind, err)
		}
		for _, r := range recs {
			changes = append(changes, Change{Op: OpPut, Kind: r.Kind, ID: r.ID, Version: r.Version,
				Data: stripForSchema(r.Kind, r.Payload, schema)})
		}
		if len(recs) < want {
			cur.Kinds, cur.After = cur.Kinds[1:], ""
		} else {
			cur.After = recs[len(recs)-1].ID
		}
	}
	if len(cur.Kinds) == 0 {
		cur.Mode, cur.Kinds, cur.After = ModeIncremental, nil, ""
		if cur.Seq >= cur.Start {
			cur.Repair, cur.Start = nil, 0
		}
	}
	return cur, changes, nil
}

// incrementalPage reads the changes after the cursor and folds them into
// record-level changes. own is the highest mutation id of the device's own
// changes among them.
//
// roleMoved reports that the log holds a version of the device's own user
// with another role than the cursor's, which position let through only if
// the role has changed back since: while the user had the other role, the
// grants and revokes the store wrote were computed for that role (a
// manager, who sees everything, gets none), so the log after the cursor
// misses the revokes this device needs. The caller resets the device
// instead of serving the page.
func (e *Engine) incrementalPage(ctx context.Context, f domain.ScopeFilter, cur Cursor, limit int, clientID string, schema int) (
	next Cursor, changes []Change, own int64, more, roleMoved bool, err error) {
	page, err := e.store.ChangesForScope(ctx, f, cur.Seq, limit)
	if err != nil {
		return cur, nil, 0, false, false, fmt.Errorf("sync: pull: changes: %w", err)
	}
	for _, r := range page.Rows {
		if r.Origin.ClientID == clientID {
			own = max(own, r.Origin.MutationID)
		}
		if r.Kind == domain.KindUser && r.EntityID == f.UserID && r.Op == domain.OpUpsert && roleIn(r.Payload) != cur.Role {
			return cur, nil, 0, false, true, nil
		}
	}
	rows := page.Rows
	if len(cur.Repair) > 0 {
		rows = slices.DeleteFunc(slices.Clone(rows), func(r domain.ChangeRow) bool {
			return r.Seq <= cur.Start && slices.Contains(cur.Repair, r.Kind)
		})
	}
	echoTo := clientID
	if cur.Session {
		echoTo = "" // see Cursor.Session: no op version inside a reset session
	}
	changes = fold(rows, echoTo, schema)
	cur.Seq = max(cur.Seq, page.UpTo)
	if !page.More {
		cur.Session = false
	}
	if len(cur.Repair) > 0 && cur.Seq >= cur.Start {
		cur.Repair, cur.Start = nil, 0
	}
	return cur, changes, own, page.More, false, nil
}

// roleIn reads the role of a user record's JSON ("" if it has none).
func roleIn(payload json.RawMessage) domain.Role {
	var u struct {
		Role domain.Role `json:"role"`
	}
	_ = json.Unmarshal(payload, &u)
	return u.Role
}

// fold turns change-log rows into the page's record-level changes: per
// (kind, id) only the last row counts (the page is applied atomically, so
// intermediate states need not be sent). Upserts and grants become puts,
// deletes and revokes deletes. The device's own echo-only change becomes
// op version naming its mutation, unless the page also holds an earlier
// change of the record by someone else (or a non-echo one of its own),
// which the device has not got: then it needs the put. An empty clientID
// sends every change in full.
func fold(rows []domain.ChangeRow, clientID string, schema int) []Change {
	type key struct {
		kind domain.EntityKind
		id   string
	}
	type entry struct {
		row       domain.ChangeRow
		needsFull bool
	}
	last := make(map[key]*entry, len(rows))
	order := make([]key, 0, len(rows))
	for _, r := range rows {
		if !domain.IsSynced(r.Kind) {
			continue
		}
		k := key{r.Kind, r.EntityID}
		en, ok := last[k]
		if !ok {
			en = &entry{}
			last[k] = en
			order = append(order, k)
		}
		// Grants are never echoes: they carry a record to a user who did
		// not have it, whoever caused them.
		ownEcho := r.Op == domain.OpUpsert && clientID != "" && r.Origin.ClientID == clientID && r.Origin.EchoOnly
		if !ownEcho {
			en.needsFull = true
		}
		en.row = r
	}
	puts := make([]Change, 0, len(order))
	var dels []Change
	for _, k := range order {
		en := last[k]
		r := en.row
		switch r.Op {
		case domain.OpDelete, domain.OpRevoke:
			dels = append(dels, Change{Op: OpDelete, Kind: r.Kind, ID: r.EntityID, Version: r.Version})
		default:
			if !en.needsFull {
				puts = append(puts, Change{Op: OpVersion, Kind: r.Kind, ID: r.EntityID, Version: r.Version,
					MutationID: r.Origin.MutationID})
				continue
			}
			puts = append(puts, Change{Op: OpPut, Kind: r.Kind, ID: r.EntityID, Version: r.Version,
				Data: stripForSchema(r.Kind, r.Payload, schema)})
		}
	}
	rank := func(k domain.EntityKind) int { return slices.Index(domain.SyncedKinds(), k) }
	slices.SortStableFunc(puts, func(a, b Change) int { return rank(a.Kind) - rank(b.Kind) })
	slices.SortStableFunc(dels, func(a, b Change) int { return rank(b.Kind) - rank(a.Kind) })
	return append(puts, dels...)
}

func wireOutcomes(outcomes []domain.MutationOutcome) []Outcome {
	out := make([]Outcome, 0, len(outcomes))
	for _, o := range outcomes {
		out = append(out, Outcome{MutationID: o.MutationID, Name: o.Name, Kind: o.Kind, Code: o.Code,
			Message: o.Message, Details: o.Details})
	}
	return out
}
