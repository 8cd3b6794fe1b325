package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// quiesce brings every device online with no faults and syncs them all,
// concurrently, round after round, until a round starts with nothing
// pending anywhere: that round pushes nothing, so every pull in it sees
// the final state.
func (w *world) quiesce(ctx context.Context) error {
	for _, d := range w.devs {
		d.net.offline.Store(false)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for round := 0; round < 10; round++ {
		busy := false
		for _, d := range w.devs {
			ms, err := d.c.Pending(ctx)
			if err != nil {
				return err
			}
			busy = busy || len(ms) > 0
		}
		if err := w.syncAll(ctx); err != nil {
			return fmt.Errorf("sim: quiesce: %w", err)
		}
		if !busy {
			return nil
		}
	}
	return errors.New("sim: quiesce: mutations still pending after 10 rounds")
}

// syncAll syncs every device at once (signing in again a device whose
// session a fault ended) and returns the first failure.
func (w *world) syncAll(ctx context.Context) error {
	errs := make([]error, len(w.devs))
	var wg gosync.WaitGroup
	for i, d := range w.devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.c.Sync(ctx)
			if errors.Is(err, client.ErrSignedOut) {
				if err = retrySignIn(ctx, d.c, d.spec); err == nil {
					err = d.c.Sync(ctx)
				}
			}
			if err != nil {
				errs[i] = fmt.Errorf("device %d: %w", d.n, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// verify runs the end-of-campaign checks and fills the report's
// divergences.
func (w *world) verify(ctx context.Context) {
	log, err := w.changeLog(ctx)
	if err != nil {
		w.diverge("", "read the change history: %v", err)
		return
	}
	w.verifyHistory(log)
	byOrigin := map[string]map[int64][]int64{} // client id → mutation id → seqs
	for _, row := range log {
		if o := row.Origin; o.ClientID != "" {
			if byOrigin[o.ClientID] == nil {
				byOrigin[o.ClientID] = map[int64][]int64{}
			}
			if seqs := byOrigin[o.ClientID][o.MutationID]; !slices.Contains(seqs, row.Seq) {
				byOrigin[o.ClientID][o.MutationID] = append(seqs, row.Seq)
			}
		}
	}
	for _, d := range w.devs {
		w.verifyDevice(ctx, d)
		w.verifyApplied(d, byOrigin[d.c.ClientID()])
		w.verifyDelivered(ctx, d)
	}
	if w.rep.Diverged() {
		w.serverHistory(log)
	}
	for _, k := range slices.SortedFunc(maps.Keys(w.deleted), func(a, b synctest.Key) int { return strings.Compare(a.ID, b.ID) }) {
		if _, err := w.cfg.Store.FindRecord(ctx, w.cfg.OrgID, k.Kind, k.ID); err == nil {
			w.diverge(k.ID, "deleted %s %s is live again on the server", k.Kind, k.ID)
		}
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// diverge records a failed check; the first one brings its record's history.
func (w *world) diverge(id, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(w.rep.Divergences) == 0 {
		if id == "" {
			id = uuidRE.FindString(msg)
		}
		w.rep.History = append([]string{fmt.Sprintf("history of %s:", id)}, w.history[id]...)
	}
	w.rep.Divergences = append(w.rep.Divergences, msg)
}

func (w *world) verifyDevice(ctx context.Context, d *simDevice) {
	role := w.roles[d.spec.UserID]
	who := fmt.Sprintf("device %d (%s, %s)", d.n, short(d.spec.UserID), role)
	p := domain.Principal{OrgID: w.cfg.OrgID, UserID: d.spec.UserID, Role: role}
	want, err := synctest.ServerScope(ctx, w.cfg.Store, p)
	if err != nil {
		w.diverge("", "%s: read the server's scope: %v", who, err)
		return
	}
	recs, err := d.c.ServerCopies(ctx, "")
	if err != nil {
		w.diverge("", "%s: read the local store: %v", who, err)
		return
	}
	local := &synctest.Device{Records: map[synctest.Key]synctest.Record{}, Schema: fsync.SchemaVersion}
	for _, r := range recs {
		k := synctest.Key{Kind: r.Kind, ID: r.ID}
		local.Records[k] = synctest.Record{Version: r.Version, Data: r.Data}
		if w.deleted[k] {
			w.diverge(r.ID, "%s holds deleted %s %s", who, r.Kind, r.ID)
		}
	}
	for _, line := range local.Diff(want) {
		w.diverge("", "%s: %s", who, line)
	}
	if bad, err := d.c.Verify(ctx); err != nil || len(bad) > 0 {
		w.diverge("", "%s: checksums differ in %v (%v)", who, bad, err)
	}
	st, err := d.c.State(ctx)
	if err != nil {
		w.diverge("", "%s: state: %v", who, err)
		return
	}
	if ms, _ := d.c.Pending(ctx); len(ms) > 0 {
		w.diverge("", "%s: %d mutations still pending after quiescing (first %d)", who, len(ms), ms[0].ID)
	}
	last := st.NextMutationID - 1
	if st.Acked != last {
		w.diverge("", "%s: made mutations up to %d, acknowledged %d", who, last, st.Acked)
	}
	if w.cfg.Explain != nil {
		rep, err := w.cfg.Explain(ctx, d.c.ClientID())
		switch {
		case err != nil:
			w.diverge("", "%s: explain: %v", who, err)
		case rep.LastMutationID != last:
			w.diverge("", "%s: the server processed mutations up to %d, the device made %d", who, rep.LastMutationID, last)
		case len(rep.Pending) > 0:
			w.diverge("", "%s: %d outcomes never reached the device (first: mutation %d %s)", who, len(rep.Pending), rep.Pending[0].MutationID, rep.Pending[0].Code)
		}
	}
	w.verifyMutations(ctx, d, who)
}

// verifyMutations checks that every acknowledged mutation the server did
// not reject is reflected: a created record exists (or was deleted after),
// and a value written to a field nobody else wrote is the stored value.
func (w *world) verifyMutations(ctx context.Context, d *simDevice, who string) {
	for _, id := range slices.Sorted(maps.Keys(d.made)) {
		m := d.made[id]
		o, hasOutcome := d.outcomes[id]
		if hasOutcome && o.Kind == domain.OutcomeRejected {
			continue
		}
		if m.create {
			if !w.existed(ctx, m.kind, m.id) {
				w.diverge(m.id, "%s: mutation %d created %s %s, which the server does not have", who, id, m.kind, m.id)
			}
			continue
		}
		if m.field == "" || (hasOutcome && strings.Contains(string(o.Details), `"`+m.field+`"`)) {
			continue
		}
		if vals := w.writes[fieldKey(m.kind, m.id, m.field)]; len(vals) != 1 {
			continue // others wrote the field too: the merge decides
		}
		rec, err := w.cfg.Store.FindRecord(ctx, w.cfg.OrgID, m.kind, m.id)
		if err != nil {
			continue // deleted since
		}
		if got := fieldOf(rec, m.field); got != m.value {
			w.diverge(m.id, "%s: mutation %d set %s %s %s = %q, the server has %q", who, id, m.kind, m.id, m.field, m.value, got)
		}
	}
}

// existed reports whether the record exists on the server, live or
// deleted (the write path's Find sees tombstones).
func (w *world) existed(ctx context.Context, kind domain.EntityKind, id string) bool {
	errFound := errors.New("found")
	err := w.cfg.Store.Write(ctx, w.system(), func(tx domain.Tx) error {
		if _, err := tx.Find(kind, id); err != nil {
			return err
		}
		return errFound
	})
	return errors.Is(err, errFound)
}

func fieldOf(rec domain.Record, field string) string {
	switch r := rec.(type) {
	case *domain.Lead:
		if field == "city" {
			return r.City
		}
		return r.Notes
	case *domain.Project:
		return r.Notes
	case *domain.Appointment:
		return r.Notes
	}
	return ""
}

// Summary is the one-screen account of the campaign.
func (r *Report) Summary() string {
	var b strings.Builder
	verdict := "converged"
	if r.Diverged() {
		verdict = fmt.Sprintf("DIVERGED (%d failed checks)", len(r.Divergences))
	}
	fmt.Fprintf(&b, "fieldsync sim  seed %d  %s  in %s\n", r.Seed, verdict, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "devices     %d (%d reps, %d techs, %d managers)\n", r.Devices, r.Reps, r.Techs, r.Managers)
	fmt.Fprintf(&b, "operations  %d: %d device mutations, %d office edits, %d deletes, %d reassignments, %d role changes, %d offline spans\n",
		r.Ops, r.Mutations, r.OfficeEdits, r.Deletes, r.Reassignments, r.RoleChanges, r.OfflineSpans)
	chaos := []string{}
	for _, k := range slices.Sorted(maps.Keys(r.Chaos)) {
		chaos = append(chaos, fmt.Sprintf("%d %s", r.Chaos[k], k))
	}
	fmt.Fprintf(&b, "faults      %d connections dropped, %d delayed, %d cut mid-answer; %s\n",
		r.Faults.Dropped, r.Faults.Delayed, r.Faults.Cut, strings.Join(chaos, ", "))
	fmt.Fprintf(&b, "sync        %d pushes, %d pulls, %d resets, %d retries, %d token refreshes, %d pokes\n",
		r.Pushes, r.Pulls, r.Resets, r.Retries, r.Refreshes, r.Pokes)
	fmt.Fprintf(&b, "outcomes    %d conflicts resolved, %d rejections delivered\n", r.Conflicts, r.Rejections)
	if r.Diverged() {
		for i, d := range r.Divergences {
			if i == 10 {
				fmt.Fprintf(&b, "  … and %d more\n", len(r.Divergences)-10)
				break
			}
			fmt.Fprintf(&b, "  %s\n", d)
		}
		for _, h := range r.History {
			fmt.Fprintf(&b, "  %s\n", h)
		}
	}
	return b.String()
}

// changeLog reads the organization's whole change history (the campaign
// prunes nothing).
func (w *world) changeLog(ctx context.Context) ([]domain.ChangeRow, error) {
	f := domain.ScopeFilter{OrgID: w.cfg.OrgID, UserID: w.cfg.Office.UserID, Role: w.cfg.Office.Role}
	var rows []domain.ChangeRow
	for after := int64(0); ; {
		page, err := w.cfg.Store.ChangesForScope(ctx, f, after, 5000)
		if err != nil {
			return nil, err
		}
		rows = append(rows, page.Rows...)
		if !page.More || page.UpTo <= after {
			return rows, nil
		}
		after = page.UpTo
	}
}

// verifyHistory checks that no record was written again after it was
// deleted: a deletion is final.
func (w *world) verifyHistory(log []domain.ChangeRow) {
	deletedAt := map[synctest.Key]int64{}
	for _, row := range log {
		k := synctest.Key{Kind: row.Kind, ID: row.EntityID}
		switch row.Op {
		case domain.OpDelete:
			if _, ok := deletedAt[k]; !ok {
				deletedAt[k] = row.Seq
			}
		case domain.OpUpsert, domain.OpGrant:
			if at, ok := deletedAt[k]; ok && row.Seq > at {
				w.diverge(row.EntityID, "%s %s was deleted at %d and written again (%s) at %d", row.Kind, row.EntityID, at, row.Op, row.Seq)
			}
		}
	}
}

// verifyApplied checks each acknowledged mutation that must change
// something (a create, a new value of a field) did, in exactly one
// transaction; and that no mutation was applied twice.
func (w *world) verifyApplied(d *simDevice, seqs map[int64][]int64) {
	who := fmt.Sprintf("device %d (%s)", d.n, short(d.spec.UserID))
	for id, s := range seqs {
		if len(s) > 1 {
			w.diverge(d.made[id].id, "%s: mutation %d was applied in %d transactions %v", who, id, len(s), s)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(d.made)) {
		m := d.made[id]
		if _, ok := d.outcomes[id]; ok {
			continue // rejected, or lost its one field to a conflict
		}
		if !m.create && m.field == "" {
			continue // may be a no-op (a status already set)
		}
		if len(seqs[id]) == 0 {
			w.diverge(m.id, "%s: acknowledged mutation %d on %s %s left no change on the server", who, id, m.kind, m.id)
		}
	}
}

// verifyDelivered checks that every outcome the server recorded for the
// device reached it.
func (w *world) verifyDelivered(ctx context.Context, d *simDevice) {
	outs, err := w.cfg.Store.Outcomes(ctx, w.cfg.OrgID, d.c.ClientID(), 0)
	if err != nil {
		w.diverge("", "device %d: read its outcomes: %v", d.n, err)
		return
	}
	for _, o := range outs {
		got, ok := d.outcomes[o.MutationID]
		if !ok || got.Kind != o.Kind || got.Code != o.Code {
			w.diverge(d.made[o.MutationID].id, "device %d: the %s %s of mutation %d never reached it", d.n, o.Kind, o.Code, o.MutationID)
		}
	}
}

// serverHistory adds the change rows of the first differing record to its
// history: what the server recorded, transaction by transaction.
func (w *world) serverHistory(log []domain.ChangeRow) {
	id := uuidRE.FindString(w.rep.History[0])
	clients := map[string]int{}
	for _, d := range w.devs {
		clients[d.c.ClientID()] = d.n
	}
	for _, row := range log {
		if row.EntityID != id {
			continue
		}
		line := fmt.Sprintf("server seq %d: %s %s version %d", row.Seq, row.Op, row.Kind, row.Version)
		if row.TargetUser != "" {
			line += " for user " + short(row.TargetUser)
		}
		if o := row.Origin; o.ClientID != "" {
			line += fmt.Sprintf(" (device %d mutation %d)", clients[o.ClientID], o.MutationID)
		}
		w.rep.History = append(w.rep.History, line)
	}
}
