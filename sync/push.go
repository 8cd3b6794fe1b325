package sync

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Push applies a device's batch of mutations, in order, each exactly once.
//
// Each mutation runs in its own transaction of the one write path, which
// first re-reads the device's LastMutationID under the device's row lock:
//   - id ≤ LastMutationID: already processed (a replay), skipped;
//   - id > LastMutationID+1: a gap; the push stops, applies nothing more and
//     answers Gap{Expected, Got};
//   - otherwise the mutation's handler runs, and on success LastMutationID
//     advances to id in the same transaction as the effects (together with
//     a conflict outcome if a field lost a merge).
//
// A permanent failure (validation, permission, workflow, a deleted record,
// a clash, an unknown name, even a bug or panic in a handler) rolls the
// mutation's transaction back; a second transaction then records a
// rejection outcome and advances LastMutationID, so the queue behind it
// moves on and the device learns the reason on its next pull. A transient
// failure (the database unavailable, the request cancelled) stops the push
// with that error: nothing after the last committed mutation is
// acknowledged, and the device retries the same batch later.
//
// Concurrent pushes of the same batch (a retry racing the original) are
// serialized by the device's row lock (SyncTx.Client locks it until
// commit), and the in-transaction re-read decides, so each mutation applies
// once.
//
// Errors: CodeUpgradeRequired, CodeInvalid (the request's shape, see
// DecodePush), CodeNotFound (unknown client: register the device),
// CodeForbidden (another user's client), CodeUnavailable (retry later).
func (e *Engine) Push(ctx context.Context, p domain.Principal, req PushRequest) (resp PushResponse, err error) {
	start := time.Now()
	var stats PushStats
	defer func() {
		if e.metrics != nil {
			stats.Duration, stats.Err = time.Since(start), err
			e.metrics.PushDone(stats)
		}
	}()
	if err := validatePush(req); err != nil {
		return PushResponse{}, err
	}
	if err := checkPrincipal(p); err != nil {
		return PushResponse{}, err
	}
	if len(req.Mutations) == 0 {
		// Nothing to apply: the device only asks where it stands.
		c, err := e.client(ctx, p, req.ClientID)
		if err != nil {
			return PushResponse{}, err
		}
		resp.LastMutationID = c.LastMutationID
		return resp, nil
	}
	// The device's state and the organization's settings are read inside
	// each mutation's transaction (the device's row locked), not before: a push is then as many round trips shorter, and the
	// in-transaction read is the one that decides anyway.
	b := &batch{e: e, p: p, req: req}
	known := int64(-1) // the device's LastMutationID once a transaction has read it
	for _, m := range req.Mutations {
		if m.ID <= known {
			// Acknowledged before: a retry of a batch, or its overlap.
			stats.Replayed++
			continue
		}
		r, err := b.apply(ctx, m)
		if err != nil {
			if known < 0 {
				// Nothing was read: the client is unknown or foreign, or the
				// database failed before anything applied.
				return PushResponse{}, err
			}
			e.log.WarnContext(ctx, "sync push stopped", "client_id", req.ClientID, "user_id", p.UserID,
				"mutation_id", m.ID, "err", err)
			return resp, fmt.Errorf("sync: push mutation %d: %w", m.ID, err)
		}
		known = r.last
		resp.LastMutationID = r.last
		switch r.status {
		case statusReplayed:
			stats.Replayed++
		case statusApplied:
			resp.Processed++
			stats.Applied++
			if r.conflict {
				stats.Conflicts++
			}
		case statusRejected:
			resp.Processed++
			stats.Rejected++
		case statusGap:
			stats.Gap = true
			resp.Gap = &Gap{Expected: r.last + 1, Got: m.ID}
			return resp, nil
		}
	}
	e.log.InfoContext(ctx, "sync push", "client_id", req.ClientID, "user_id", p.UserID,
		"mutations", len(req.Mutations), "applied", stats.Applied, "rejected", stats.Rejected,
		"replayed", stats.Replayed, "last_mutation_id", resp.LastMutationID)
	return resp, nil
}

// batch is one Push call's shared state.
type batch struct {
	e   *Engine
	p   domain.Principal
	req PushRequest
}

type applyStatus int

const (
	statusApplied applyStatus = iota
	statusReplayed
	statusRejected
	statusGap
)

// applied says what happened to one mutation; last is the device's
// LastMutationID afterwards.
type applied struct {
	status   applyStatus
	last     int64
	conflict bool
}

// errHandler marks a failure of the mutation itself (as opposed to the
// bookkeeping around it), which is what may become a rejection.
type errHandler struct{ err error }

func (e *errHandler) Error() string { return e.err.Error() }
func (e *errHandler) Unwrap() error { return e.err }

// apply processes one mutation; a non-nil error is transient (or a failure
// of the bookkeeping itself) and stops the push.
func (b *batch) apply(ctx context.Context, m Mutation) (applied, error) {
	var r applied
	err := b.e.store.SyncWrite(ctx, b.p, func(tx domain.SyncTx) error {
		// The store may run this function more than once: start afresh.
		c, next, err := b.next(tx, m, &r)
		if err != nil || !next {
			return err
		}
		settings, err := tx.Settings()
		if err != nil {
			return err
		}
		// The device advances before the handler runs: it commits only
		// with the handler's effects (a failure rolls both back), and
		// written before the handler's first write takes the
		// organization's lock, it does not lengthen the time that lock
		// is held.
		if err := b.advance(tx, c, m.ID); err != nil {
			return err
		}
		mc := &mut{
			ctx: ctx, tx: tx, p: b.p, clientID: b.req.ClientID, id: m.ID, name: m.Name,
			args: m.Args, schema: b.req.SchemaVersion, settings: settings,
		}
		mc.origin(false)
		if err := b.run(mc); err != nil {
			return &errHandler{err}
		}
		if len(mc.conflicts) > 0 {
			r.conflict = true
			o := b.outcome(m, domain.OutcomeConflict, ConflictField, conflictMessage(mc.conflicts), marshalDetails(mc.conflicts), tx.Now())
			if err := tx.RecordOutcome(o); err != nil {
				return err
			}
		}
		r.status, r.last = statusApplied, m.ID
		return nil
	})
	var he *errHandler
	switch {
	case err == nil:
		return r, nil
	case transient(ctx, err) || !errors.As(err, &he):
		return applied{}, err
	}
	return b.rejectMutation(ctx, m, he.err)
}

// next loads the device's state in the transaction (locked until commit)
// and reports whether m is the mutation the device is due to have
// processed. If it is not, r says why: replayed (already processed) or a
// gap (ids were skipped). This in-transaction read, not anything read
// before, decides, which is what makes concurrent duplicates apply once.
func (b *batch) next(tx domain.SyncTx, m Mutation, r *applied) (*domain.SyncClient, bool, error) {
	*r = applied{}
	c, err := tx.Client(b.req.ClientID)
	if err != nil {
		return nil, false, clientError(err)
	}
	if c.UserID != b.p.UserID {
		return nil, false, errForeignClient()
	}
	r.last = c.LastMutationID
	switch {
	case m.ID <= c.LastMutationID:
		r.status = statusReplayed
		return c, false, nil
	case m.ID > c.LastMutationID+1:
		r.status = statusGap
		return c, false, nil
	}
	return c, true, nil
}

// run calls the mutation's handler, turning a panic into an internal error
// so that a poison mutation is rejected instead of crashing the push again
// on every retry.
func (b *batch) run(mc *mut) (err error) {
	defer func() {
		if v := recover(); v != nil {
			b.e.log.ErrorContext(mc.ctx, "sync mutation panicked", "client_id", mc.clientID, "mutation_id", mc.id,
				"mutation", mc.name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = domain.Errorf(domain.CodeInternal, "mutation handler panicked")
		}
	}()
	def, ok := registry[mc.name]
	if !ok {
		return reject(RejectUnknownMutation, nil, "this server does not know the change %q (is the app newer than the server?)", mc.name)
	}
	return def.apply(mc)
}

// advance records that the device's mutation id has been processed, in the
// transaction that processed it.
func (b *batch) advance(tx domain.SyncTx, c *domain.SyncClient, id int64) error {
	now := tx.Now()
	c.LastMutationID = id
	c.LastPushAt = &now
	c.SchemaVersion = b.req.SchemaVersion
	if b.req.AppVersion != "" {
		c.AppVersion = b.req.AppVersion
	}
	return tx.SaveClient(c)
}

func (b *batch) outcome(m Mutation, kind domain.OutcomeKind, code, msg string, details []byte, at time.Time) domain.MutationOutcome {
	return domain.MutationOutcome{
		OrgID: b.p.OrgID, ClientID: b.req.ClientID, MutationID: m.ID, Name: m.Name,
		Kind: kind, Code: code, Message: msg, Details: details, CreatedAt: at,
	}
}

// rejectMutation records a permanent failure as a rejection and advances
// the device past the mutation, in a transaction of its own (the
// mutation's was rolled back). The id is checked again: a concurrent push
// of the same batch may have processed it meanwhile.
func (b *batch) rejectMutation(ctx context.Context, m Mutation, cause error) (applied, error) {
	code, msg, details := outcomeOf(cause)
	if code == RejectInternal {
		b.e.log.ErrorContext(ctx, "sync mutation failed", "client_id", b.req.ClientID, "user_id", b.p.UserID,
			"mutation_id", m.ID, "mutation", m.Name, "err", cause)
	} else {
		b.e.log.InfoContext(ctx, "sync mutation rejected", "client_id", b.req.ClientID, "user_id", b.p.UserID,
			"mutation_id", m.ID, "mutation", m.Name, "code", string(code))
	}
	var r applied
	err := b.e.store.SyncWrite(ctx, b.p, func(tx domain.SyncTx) error {
		c, next, err := b.next(tx, m, &r)
		if err != nil || !next {
			return err
		}
		if err := tx.RecordOutcome(b.outcome(m, domain.OutcomeRejected, string(code), msg, details, tx.Now())); err != nil {
			return err
		}
		r.status, r.last = statusRejected, m.ID
		return b.advance(tx, c, m.ID)
	})
	if err != nil {
		return applied{}, err
	}
	if r.status == statusRejected && b.e.metrics != nil {
		b.e.metrics.Rejected(m.Name, code)
	}
	return r, nil
}
