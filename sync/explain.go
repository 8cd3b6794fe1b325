package sync

import (
	"context"
	"fmt"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Checksums returns, per synced kind, the count and hash of the live
// records in the device user's scope (see domain.ScopePart), for the device
// to compare with its local copy after a complete pull and to repair the
// kinds that differ with PullRequest.RepairKinds.
//
// Errors: CodeInvalid (client id), CodeNotFound (unknown client),
// CodeForbidden (another user's client), CodeUnavailable.
func (e *Engine) Checksums(ctx context.Context, p domain.Principal, clientID string) (ChecksumsResponse, error) {
	if _, err := e.client(ctx, p, clientID); err != nil {
		return ChecksumsResponse{}, err
	}
	f := domain.ScopeFilter{OrgID: p.OrgID, UserID: p.UserID, Role: p.Role}
	resp := ChecksumsResponse{Parts: make([]domain.ScopePart, 0, len(domain.SyncedKinds()))}
	for _, kind := range domain.SyncedKinds() {
		part, err := e.store.ScopeChecksum(ctx, f, kind)
		if err != nil {
			return ChecksumsResponse{}, fmt.Errorf("sync: checksum of %s: %w", kind, err)
		}
		resp.Parts = append(resp.Parts, part)
	}
	return resp, nil
}

// Explain answers "why doesn't this device see record Y?" for a manager or
// admin of the device's organization: the device's sync state (cursor and
// its position, the organization's sequence, last mutation, last push and
// pull, outcomes the device has not acknowledged) and, when kind and id
// name a record, whether it exists, whether it is in the device user's
// scope now, its version, whether the device's cursor has passed it, and a
// reason in words. kind and id may be empty for the device state alone.
//
// Errors: CodeForbidden (not a manager or admin), CodeInvalid (a kind that
// is not synced), CodeNotFound (no such client in the organization),
// CodeUnavailable.
func (e *Engine) Explain(ctx context.Context, p domain.Principal, clientID string, kind domain.EntityKind, id string) (DeviceReport, error) {
	if err := checkPrincipal(p); err != nil {
		return DeviceReport{}, err
	}
	if p.Role != domain.RoleAdmin && p.Role != domain.RoleManager {
		return DeviceReport{}, domain.Errorf(domain.CodeForbidden, "only managers and admins may inspect devices")
	}
	if kind != "" && !domain.IsSynced(kind) {
		return DeviceReport{}, domain.Invalid(domain.FieldError{Field: "kind", Message: fmt.Sprintf("%q is not a synced kind", kind)})
	}
	if !validID(clientID) {
		return DeviceReport{}, domain.Invalid(domain.FieldError{Field: "client_id", Message: idMessage})
	}
	c, err := e.store.FindClient(ctx, p.OrgID, clientID)
	if err != nil {
		return DeviceReport{}, fmt.Errorf("sync: explain: client: %w", err)
	}
	st, err := e.store.SyncState(ctx, p.OrgID)
	if err != nil {
		return DeviceReport{}, fmt.Errorf("sync: explain: sync state: %w", err)
	}
	rep := DeviceReport{
		ClientID: c.ID, UserID: c.UserID, Role: string(c.Role), Cursor: c.Cursor, OrgSeq: st.Seq,
		LastMutationID: c.LastMutationID, LastPullAt: c.LastPullAt, LastPushAt: c.LastPushAt,
	}
	cur, curErr := DecodeCursor(c.Cursor)
	if curErr == nil {
		rep.CursorSeq = cur.Seq
	}
	outcomes, err := e.store.Outcomes(ctx, p.OrgID, c.ID, cur.Ack)
	if err != nil {
		return DeviceReport{}, fmt.Errorf("sync: explain: outcomes: %w", err)
	}
	rep.Pending = wireOutcomes(outcomes)
	if kind == "" && id == "" {
		return rep, nil
	}
	user, err := e.store.FindUser(ctx, p.OrgID, c.UserID)
	if err != nil && !domain.IsCode(err, domain.CodeNotFound) {
		return DeviceReport{}, fmt.Errorf("sync: explain: user: %w", err)
	}
	rr, err := e.explainRecord(ctx, p, user, c, cur, curErr == nil, st, kind, id)
	if err != nil {
		return DeviceReport{}, err
	}
	rep.Record = rr
	return rep, nil
}

// explainRecord reports on one record for Explain.
func (e *Engine) explainRecord(ctx context.Context, p domain.Principal, user *domain.User, c *domain.SyncClient,
	cur Cursor, curOK bool, st domain.OrgSyncState, kind domain.EntityKind, id string) (*RecordReport, error) {
	rr := &RecordReport{Kind: kind, ID: id}
	// Read with tombstones, so a deleted record is told apart from one that
	// never existed. The transaction writes nothing and takes no sequence.
	var rec domain.Record
	err := e.store.SyncWrite(ctx, p, func(tx domain.SyncTx) error {
		r, err := tx.Find(kind, id)
		if domain.IsCode(err, domain.CodeNotFound) {
			rec = nil
			return nil
		}
		rec = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync: explain: find %s: %w", kind, err)
	}
	if rec == nil || !validID(id) {
		rr.Reason = fmt.Sprintf("no %s with this id exists in the organization", noun(kind))
		return rr, nil
	}
	rr.Version = rec.Base().Version
	rr.Delivered = curOK && cur.Mode == ModeIncremental && cur.Seq >= rr.Version
	if sd, ok := rec.(domain.SoftDeletable); ok && sd.Deleted() != nil {
		rr.Reason = fmt.Sprintf("the %s was deleted at %s (version %d); devices that had it get a delete",
			noun(kind), sd.Deleted().UTC().Format("2006-01-02 15:04:05Z"), rr.Version)
		return rr, nil
	}
	rr.Exists = true
	if user == nil {
		rr.Reason = "the device's user no longer exists"
		return rr, nil
	}
	in, anchor, err := e.store.InScope(ctx, domain.ScopeFilter{OrgID: p.OrgID, UserID: user.ID, Role: user.Role}, kind, id)
	if err != nil {
		return nil, fmt.Errorf("sync: explain: scope: %w", err)
	}
	rr.InScope = in
	switch {
	case !user.Active:
		rr.Reason = "the device's user is deactivated: their devices no longer sync"
	case !in:
		rr.Reason = outOfScopeReason(user, anchor)
	case c.Role != "" && c.Role != user.Role:
		rr.Reason = fmt.Sprintf("in scope; the user's role changed from %s to %s, so the device resets on its next pull", c.Role, user.Role)
	case !curOK:
		rr.Reason = "in scope; the device has not completed a pull yet (or its cursor is unreadable): its next pull is a full snapshot"
	case cur.Epoch != st.Epoch:
		rr.Reason = "in scope; the device's cursor is from before a database restore: its next pull resets it"
	case cur.Mode == ModeSnapshot:
		rr.Reason = "in scope; the device is in the middle of a snapshot session and receives it before the session ends"
	case rr.Delivered:
		rr.Reason = fmt.Sprintf("in scope and delivered: the device's cursor (seq %d) is past the record's version %d", cur.Seq, rr.Version)
	default:
		rr.Reason = fmt.Sprintf("in scope but not delivered yet: the device's cursor (seq %d) is behind the record's version %d; it arrives on the device's next pull",
			cur.Seq, rr.Version)
	}
	return rr, nil
}

// outOfScopeReason says in words which owner the record hangs from, using
// ids only (the admin app resolves names).
func outOfScopeReason(u *domain.User, a domain.Anchor) string {
	switch u.Role {
	case domain.RoleSales:
		if a.LeadOwner == "" {
			return "not in scope: a sales rep sees what hangs under leads assigned to them, and this record's lead is unassigned (or it has no lead)"
		}
		return fmt.Sprintf("not in scope: the record's lead is assigned to user %s, not to the device's user", a.LeadOwner)
	case domain.RoleFieldTech:
		if a.ProjectTech == "" {
			return "not in scope: a field tech sees what hangs under projects assigned to them, and this record's project has no tech (or it has no project)"
		}
		return fmt.Sprintf("not in scope: the record's project is assigned to tech %s, not to the device's user", a.ProjectTech)
	}
	return "not in scope for the device user's role"
}
