package sync_test

// The acceptance evidence of the sync guarantees (docs/sync-protocol.md;
// the sixteen of the design): one test per guarantee, named after its
// number, each against PostgreSQL and SQLite (sqltest.Each) unless its
// comment says why not, each naming the failure it guards against.
//
//	guarantee01_test.go        1 (concurrent writers, randomized runs)
//	guarantees_test.go         2 to 6 (write path, exactly once, poison, merge, deletes)
//	guarantees_access_test.go  7, 13 to 16 (access changes, schemas, side effects, authorization, observability)
//	guarantees_pull_test.go    8 to 12 (atomic view, echo, large sync, horizon, checksums)
//	convergence_test.go        the randomized multi-device proof
//	harness_test.go            run knobs, fault-injecting stores, the HTTP harness
//
// The feature tests in the other files go deeper into single mechanisms.

import (
	"context"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// changesOf lists the change-log rows after seq that a manager sees: every
// record's own rows (no grants or revokes), with their origin.
func changesOf(t *testing.T, b *bundle, after int64) []domain.ChangeRow {
	t.Helper()
	f := domain.ScopeFilter{OrgID: b.org.ID, UserID: b.admin.ID, Role: domain.RoleAdmin}
	var rows []domain.ChangeRow
	for {
		page, err := b.s.ChangesForScope(ctx, f, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, page.Rows...)
		after = page.UpTo
		if !page.More {
			return rows
		}
	}
}

// lastChanges maps each record to the last change a run of pages made to
// it.
func lastChanges(pages []fsync.PullResponse) map[synctest.Key]fsync.Change {
	out := map[synctest.Key]fsync.Change{}
	for _, p := range pages {
		for _, c := range p.Changes {
			out[synctest.Key{Kind: c.Kind, ID: c.ID}] = c
		}
	}
	return out
}

func seqOf(t *testing.T, s *sqlstore.Store, orgID string) int64 {
	t.Helper()
	st, err := s.SyncState(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	return st.Seq
}

// edit loads a record in a store transaction, changes it and saves it, as
// the admin app, the REST API and the workers do.
func edit[T domain.Record](t *testing.T, s *sqlstore.Store, p domain.Principal, kind domain.EntityKind, id string, change func(T)) {
	t.Helper()
	err := s.Write(ctx, p, func(tx domain.Tx) error {
		rec, err := tx.Find(kind, id)
		if err != nil {
			return err
		}
		change(rec.(T))
		return tx.Update(rec)
	})
	if err != nil {
		t.Fatalf("edit %s %s: %v", kind, id, err)
	}
}

func remove(t *testing.T, s *sqlstore.Store, p domain.Principal, kind domain.EntityKind, id string) {
	t.Helper()
	if err := s.Write(ctx, p, func(tx domain.Tx) error { return tx.Delete(kind, id) }); err != nil {
		t.Fatalf("delete %s %s: %v", kind, id, err)
	}
}

func str(d *synctest.Device, kind domain.EntityKind, id, field string) string {
	var v string
	d.Field(kind, id, field, &v)
	return v
}

// Guarantee 2: one write path.
//
// Guards against a writer (the REST API, the admin app, a worker, a
// webhook) that changes a synced record around the code that bumps its
// version and logs the change: phones would never hear of that edit.
func TestGuarantee02OneWritePath(t *testing.T) {
	t.Parallel()
	t.Run("every origin's write is versioned and logged", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			tr := b.tree(t, b.repA, b.techT)
			d := synctest.NewDevice(t, b.e, b.asA)
			d.MustPull(t)
			before := seqOf(t, s, b.org.ID)

			// The admin app and the REST API write as a signed-in user.
			edit(t, s, b.asManager, domain.KindLead, tr.lead.ID, func(l *domain.Lead) { l.Notes = "edited in the admin app" })
			// A worker (photo processing) writes as the system.
			edit(t, s, sqltest.System(b.org), domain.KindPhoto, tr.photo.ID, func(p *domain.Photo) {
				p.ProcessingState, p.Width, p.Height = domain.ProcessingReady, 800, 600
			})
			// A webhook (a cancelled booking) deletes.
			remove(t, s, sqltest.System(b.org), domain.KindAppointment, tr.appointment.ID)

			if got := seqOf(t, s, b.org.ID); got != before+3 {
				t.Fatalf("three writes moved the sequence from %d to %d", before, got)
			}
			rows := changesOf(t, b, before)
			want := []struct {
				kind domain.EntityKind
				id   string
				op   domain.ChangeOp
			}{
				{domain.KindLead, tr.lead.ID, domain.OpUpsert},
				{domain.KindPhoto, tr.photo.ID, domain.OpUpsert},
				{domain.KindAppointment, tr.appointment.ID, domain.OpDelete},
			}
			if len(rows) != len(want) {
				t.Fatalf("change rows after seq %d: %+v, want %d", before, rows, len(want))
			}
			for i, w := range want {
				r := rows[i]
				if r.Seq != before+int64(i)+1 || r.Kind != w.kind || r.EntityID != w.id || r.Op != w.op || r.Version != r.Seq {
					t.Errorf("change row %d = seq %d %s %s %s version %d, want seq %d %s %s %s at its seq",
						i, r.Seq, r.Op, r.Kind, r.EntityID, r.Version, before+int64(i)+1, w.op, w.kind, w.id)
				}
			}
			if l := find[*domain.Lead](t, b, domain.KindLead, tr.lead.ID); l.Version != before+1 {
				t.Errorf("stored lead version %d, want its write's seq %d", l.Version, before+1)
			}

			got := lastChanges(d.MustPull(t))
			if c := got[synctest.Key{Kind: domain.KindLead, ID: tr.lead.ID}]; c.Op != fsync.OpPut || c.Version != before+1 {
				t.Errorf("the admin app's edit reached the device as %+v", c)
			}
			if c := got[synctest.Key{Kind: domain.KindPhoto, ID: tr.photo.ID}]; c.Op != fsync.OpPut || c.Version != before+2 {
				t.Errorf("the worker's edit reached the device as %+v", c)
			}
			if c := got[synctest.Key{Kind: domain.KindAppointment, ID: tr.appointment.ID}]; c.Op != fsync.OpDelete || c.Version != before+3 {
				t.Errorf("the webhook's delete reached the device as %+v", c)
			}
			if str(d, domain.KindLead, tr.lead.ID, "notes") != "edited in the admin app" {
				t.Error("the device lacks the admin app's edit")
			}
			d.RequireScope(t, s)
		})
	})
	// Inherently about the source tree, not a database: the only code
	// that may write synced tables is storage/sqlstore's write path.
	t.Run("nothing outside the store writes synced tables", func(t *testing.T) {
		offenders, scanned := writesAroundTheStore(t, "..")
		if scanned < 50 {
			t.Fatalf("scanned only %d files from %s: is the module root right?", scanned, filepath.Clean(".."))
		}
		for _, o := range offenders {
			t.Error(o)
		}
		// The check must be able to fail: it finds the store's own writes.
		found, _ := writesAroundTheStore(t, filepath.Join("..", "storage", "sqlstore"), "write.go")
		if len(found) == 0 {
			t.Fatal("the scan does not see the INSERT INTO changes of storage/sqlstore/write.go: it cannot catch anything")
		}
	})
}

// syncedTables are the tables of domain.SyncedKinds, the change log and
// the organization row that holds the change sequence.
var syncedTables = []string{
	"users", "leads", "customers", "projects", "appointments", "interactions", "photos", "alerts",
	"changes", "organizations",
}

// dbPackages are the imports that reach a database.
var dbPackages = []string{
	"database/sql", "gorm.io/", "github.com/jackc/pgx", "github.com/lib/pq",
	"github.com/glebarez/", "modernc.org/sqlite", "github.com/mattn/go-sqlite3",
}

var rawWrite = regexp.MustCompile(`(?is)\b(insert\s+into|update|delete\s+from)\s+["` + "`" + `]?(` +
	strings.Join(syncedTables, "|") + `)\b`)

// writesAroundTheStore scans root (or only the named files under it) for
// code outside storage/sqlstore that imports a database driver or holds a
// SQL statement writing a synced table, in Go string literals and in SQL
// and shell files. Test files are skipped: a test may damage a database on
// purpose; product code may not.
func writesAroundTheStore(t *testing.T, root string, only ...string) (offenders []string, scanned int) {
	t.Helper()
	store := filepath.Join("storage", "sqlstore")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case d.Name() == ".git", d.Name() == "node_modules", d.Name() == "testdata", rel == "bin", rel == "data":
				return filepath.SkipDir
			case len(only) == 0 && rel == store:
				return filepath.SkipDir
			case len(only) == 0 && rel == filepath.Join("mobile", "client"):
				// The client library's database is the phone's own offline
				// copy, not the server's: it never reaches synced tables.
				return filepath.SkipDir
			}
			return nil
		}
		if len(only) > 0 && !slices.Contains(only, d.Name()) {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".go":
			if strings.HasSuffix(path, "_test.go") {
				return nil
			}
			scanned++
			offenders = append(offenders, scanGo(t, path, src)...)
		case ".sql", ".sh":
			scanned++
			if m := rawWrite.FindString(string(src)); m != "" {
				offenders = append(offenders, fmt.Sprintf("%s: %q writes a synced table around the store's write path", path, m))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return offenders, scanned
}

func scanGo(t *testing.T, path string, src []byte) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		for _, db := range dbPackages {
			if strings.HasPrefix(p, db) {
				out = append(out, fmt.Sprintf("%s imports %s: only storage/sqlstore talks to the database", path, p))
			}
		}
	}
	var sc scanner.Scanner
	file := fset.AddFile(path+"#scan", fset.Base(), len(src))
	sc.Init(file, src, nil, 0)
	for {
		pos, tok, lit := sc.Scan()
		if tok == token.EOF {
			return out
		}
		if tok != token.STRING {
			continue
		}
		s, err := strconv.Unquote(lit)
		if err != nil {
			continue
		}
		if m := rawWrite.FindString(s); m != "" {
			out = append(out, fmt.Sprintf("%s: %q writes a synced table around the store's write path", fset.Position(pos), m))
		}
	}
}

// Guarantee 3: exactly once.
//
// Guards against a retried push (the same batch again, two copies at once,
// a retry after a timeout, a retry after the server died mid-batch) that
// applies a mutation twice, and against a last mutation id recorded apart
// from the effects it stands for; and against a batch that skips ids
// applying anything.
func TestGuarantee03ExactlyOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA)
		d := synctest.NewDevice(t, b.e, b.asA)
		logs := func() int { return find[*domain.Lead](t, b, domain.KindLead, lead.ID).InteractionCount }
		batch := func(n int) []fsync.Mutation {
			var ms []fsync.Mutation
			for range n {
				ms = append(ms, logCall(d, lead.ID))
			}
			return ms
		}
		probe := func() int64 {
			t.Helper()
			resp, err := b.e.Push(ctx, b.asA, d.PushRequest())
			if err != nil {
				t.Fatal(err)
			}
			return resp.LastMutationID
		}

		// The same batch twice: the second time nothing applies.
		first := batch(3)
		for i, want := range []int{3, 0} {
			resp, err := d.Push(ctx, first...)
			if err != nil || resp.Processed != want || resp.LastMutationID != 3 {
				t.Fatalf("push %d of the same batch = %+v, %v; want %d processed", i+1, resp, err, want)
			}
		}

		// Eight copies at once: each mutation applies once in all.
		dup := batch(4)
		var wg gosync.WaitGroup
		processed := make([]int, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := b.e.Push(ctx, b.asA, d.PushRequest(dup...))
				if err != nil || resp.Gap != nil {
					t.Errorf("concurrent copy %d: %+v, %v", i, resp, err)
				}
				processed[i] = resp.Processed
			}()
		}
		wg.Wait()
		if total := processed[0] + processed[1] + processed[2] + processed[3] + processed[4] + processed[5] + processed[6] + processed[7]; total != 4 {
			t.Fatalf("eight concurrent copies processed %d mutations in all (%v), want 4", total, processed)
		}

		// A timeout: the request's context ends after the batch's first
		// mutation committed. Only that one is acknowledged; the retry
		// applies the other two, once.
		timedOut := batch(3)
		cctx, cancel := context.WithCancel(ctx)
		d.Engine = fsync.New(fsync.Config{Store: &faultStore{SyncStore: s, afterCommit: func(int) { cancel() }}})
		if _, err := d.Push(cctx, timedOut...); err == nil {
			t.Fatal("a push whose request timed out succeeded")
		}
		d.Engine = b.e
		if got := probe(); got != timedOut[0].ID {
			t.Fatalf("after the timeout the server acknowledges %d, want %d", got, timedOut[0].ID)
		}
		if resp, err := d.Push(ctx, timedOut...); err != nil || resp.Processed != 2 {
			t.Fatalf("retry after the timeout = %+v, %v; want the 2 remaining processed", resp, err)
		}

		// A crash: the server process dies after committing the first
		// mutation of a batch (its in-flight transaction dies with it);
		// the phone retries against another replica on its own
		// connection pool. Then a crash after the whole batch committed
		// but before the answer left: the retry applies nothing.
		crashed := batch(3)
		replica1, replica2 := sqltest.Reopen(t, s), sqltest.Reopen(t, s)
		dying, die := context.WithCancel(ctx)
		e1 := fsync.New(fsync.Config{Store: &faultStore{SyncStore: replica1, afterCommit: func(int) { die() }}})
		if _, err := e1.Push(dying, b.asA, d.PushRequest(crashed...)); err == nil {
			t.Fatal("the push on the dying replica succeeded")
		}
		e2 := fsync.New(fsync.Config{Store: replica2})
		if resp, err := e2.Push(ctx, b.asA, d.PushRequest(crashed...)); err != nil || resp.Processed != 2 || resp.LastMutationID != crashed[2].ID {
			t.Fatalf("retry on the other replica = %+v, %v", resp, err)
		}
		if resp, err := e2.Push(ctx, b.asA, d.PushRequest(crashed...)); err != nil || resp.Processed != 0 {
			t.Fatalf("retry after an answer was lost = %+v, %v", resp, err)
		}

		// The last mutation id commits with the effects: when saving it
		// fails after the mutation's writes, the writes roll back too,
		// and nothing is acknowledged.
		torn := batch(1)
		tornID := interactionID(t, torn[0])
		d.Engine = fsync.New(fsync.Config{Store: &faultStore{SyncStore: s, wrapTx: func(_ int, tx domain.SyncTx) domain.SyncTx {
			return failingTx{SyncTx: tx, saveErr: unavailable()}
		}}})
		if _, err := d.Push(ctx, torn...); !domain.IsCode(err, domain.CodeUnavailable) {
			t.Fatalf("push whose bookkeeping failed: %v, want unavailable", err)
		}
		d.Engine = b.e
		if _, err := s.FindRecord(ctx, b.org.ID, domain.KindInteraction, tornID); !domain.IsCode(err, domain.CodeNotFound) {
			t.Fatalf("the effects of a mutation whose last id was not saved survived (%v)", err)
		}
		if got := probe(); got != torn[0].ID-1 {
			t.Fatalf("acknowledged %d after the failed bookkeeping, want %d", got, torn[0].ID-1)
		}
		if resp, err := d.Push(ctx, torn...); err != nil || resp.Processed != 1 {
			t.Fatalf("retry = %+v, %v", resp, err)
		}

		// A gap: a batch that starts past last+1 applies nothing and
		// names the id expected.
		d.Next += 2
		skipped := batch(2)
		resp, err := d.Push(ctx, skipped...)
		if err != nil || resp.Gap == nil || resp.Gap.Expected != torn[0].ID+1 || resp.Gap.Got != skipped[0].ID || resp.Processed != 0 {
			t.Fatalf("push with a gap = %+v, %v; want expected %d, got %d", resp, err, torn[0].ID+1, skipped[0].ID)
		}
		for _, m := range skipped {
			if _, err := s.FindRecord(ctx, b.org.ID, domain.KindInteraction, interactionID(t, m)); !domain.IsCode(err, domain.CodeNotFound) {
				t.Fatalf("a mutation behind a gap was applied (%v)", err)
			}
		}

		// In all: 3+4+3+3+1 logged calls, each mutation's change rows in
		// exactly one transaction.
		if n := logs(); n != 14 {
			t.Fatalf("the lead counts %d logged calls, want 14", n)
		}
		seqs := map[int64]map[int64]bool{}
		for _, r := range changesOf(t, b, 0) {
			if r.Origin.ClientID == d.ClientID {
				if seqs[r.Origin.MutationID] == nil {
					seqs[r.Origin.MutationID] = map[int64]bool{}
				}
				seqs[r.Origin.MutationID][r.Seq] = true
			}
		}
		if len(seqs) != 14 {
			t.Errorf("%d mutations left change rows, want 14", len(seqs))
		}
		for id, ss := range seqs {
			if len(ss) != 1 {
				t.Errorf("mutation %d wrote in %d transactions", id, len(ss))
			}
		}
	})
}

// interactionID is the id an interaction.log mutation creates.
func interactionID(t *testing.T, m fsync.Mutation) string {
	t.Helper()
	var a struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Args, &a); err != nil || a.ID == "" {
		t.Fatalf("mutation %d has no id: %s", m.ID, m.Args)
	}
	return a.ID
}

// Guarantee 4: a bad mutation never blocks the queue.
//
// Guards against an upload queue stuck behind one mutation the server
// refuses (PowerSync's most common failure), and against the opposite
// mistake: a transient failure (database down, request cancelled)
// acknowledged as if the mutation had been processed, which loses it.
func TestGuarantee04BadMutationNeverBlocks(t *testing.T) {
	t.Parallel()
	t.Run("poison among a thousand", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			// A full batch of 1,000 on PostgreSQL. On SQLite a batch of
			// 250: its pure-Go driver takes some 50 ms a mutation under
			// the race detector, and TestPoisonMutationDoesNotBlockTheQueue
			// already pushes 1,000 there.
			size := fsync.MaxMutationsPerPush
			if s.Dialect() == sqlstore.DialectSQLite {
				size = 250
			}
			b := setup(t, s)
			other := b.lead(t, b.repB)
			d := synctest.NewDevice(t, b.e, b.asA)
			// Five kinds of refusal, spread through the batch: a rule, a
			// record out of reach, a role's limit, an unknown name, and a
			// handler that panics (a bug).
			poison := map[int]struct {
				name string
				args map[string]any
				code fsync.RejectionCode
			}{
				3:            {"lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Bad", "email": "not an email"}, fsync.RejectInvalidArgs},
				size / 4:     {"lead.update", update(other.ID, other.Version, map[string]any{"notes": "not mine"}), fsync.RejectNotFound},
				size / 2:     {"lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Bad", "phone": "248-555-0100", "white_glove": true}, fsync.RejectForbidden},
				size * 3 / 4: {"lead.teleport", map[string]any{}, fsync.RejectUnknownMutation},
				size - 1:     {"test.panic", map[string]any{}, fsync.RejectInternal},
			}
			var ms []fsync.Mutation
			ids := map[int64]fsync.RejectionCode{}
			for i := range size {
				if p, bad := poison[i]; bad {
					m := d.Mutation(p.name, p.args)
					ids[m.ID] = p.code
					ms = append(ms, m)
					continue
				}
				ms = append(ms, d.Mutation("lead.create", map[string]any{"id": synctest.NewID(), "first_name": fmt.Sprint("Lead ", i), "phone": "248-555-0100"}))
			}
			resp, err := d.Push(ctx, ms...)
			if err != nil || resp.Processed != len(ms) || resp.LastMutationID != int64(len(ms)) || resp.Gap != nil {
				t.Fatalf("push of %d = %+v, %v; want all processed", len(ms), resp, err)
			}
			mine, err := s.ListLeads(ctx, domain.LeadFilter{OrgID: b.org.ID, AssignedTo: &b.repA.ID})
			if err != nil || len(mine) != len(ms)-len(poison) {
				t.Fatalf("the rep has %d leads (%v), want the %d valid ones", len(mine), err, len(ms)-len(poison))
			}
			// The rejections arrive with the next pull, each with its
			// reason; nothing else is refused.
			d.Limit = fsync.MaxPullLimit
			d.MustPull(t)
			if len(d.Outcomes) != len(poison) {
				t.Fatalf("outcomes %v, want the %d poisons'", d.Outcomes, len(poison))
			}
			for id, code := range ids {
				o := requireOutcome(t, d, id, domain.OutcomeRejected, string(code))
				if o.Name == "" {
					t.Errorf("outcome of %d does not name its mutation: %+v", id, o)
				}
			}
			if o := d.Outcomes[int64(4)]; !strings.Contains(o.Message, "email") {
				t.Errorf("the invalid email's rejection does not say why: %q", o.Message)
			}
			// The queue behind them moves on.
			d.MustPush(t, "lead.create", map[string]any{"id": synctest.NewID(), "first_name": "After", "phone": "248-555-0100"})
			d.MustPull(t)
			d.RequireScope(t, s)
		})
	})
	t.Run("a transient failure acknowledges nothing", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			lead := b.lead(t, b.repA)
			d := synctest.NewDevice(t, b.e, b.asA)
			ms := []fsync.Mutation{logCall(d, lead.ID), logCall(d, lead.ID), logCall(d, lead.ID), logCall(d, lead.ID)}
			acked := func() int64 {
				t.Helper()
				resp, err := b.e.Push(ctx, b.asA, d.PushRequest())
				if err != nil {
					t.Fatal(err)
				}
				return resp.LastMutationID
			}
			cases := []struct {
				name  string
				store func() *faultStore
				ctx   func() (context.Context, func())
			}{{
				// The request is cancelled (client gone, deadline) after
				// the first mutation committed.
				name: "request cancelled",
				ctx:  func() (context.Context, func()) { return context.WithCancel(ctx) },
			}, {
				// The database cannot begin a transaction any more.
				name: "database unreachable",
				store: func() *faultStore {
					return &faultStore{SyncStore: s, beforeWrite: func(n int) error {
						if n > 1 {
							return unavailable()
						}
						return nil
					}}
				},
			}, {
				// A statement inside a mutation's handler fails because
				// the connection dropped: the handler's error is
				// transient, not a reason to reject the mutation.
				name: "connection lost inside a mutation",
				store: func() *faultStore {
					return &faultStore{SyncStore: s, wrapTx: func(n int, tx domain.SyncTx) domain.SyncTx {
						if n > 1 {
							return failingTx{SyncTx: tx, findErr: unavailable()}
						}
						return tx
					}}
				},
			}}
			for _, c := range cases {
				before := acked()
				fs := &faultStore{SyncStore: s}
				if c.store != nil {
					fs = c.store()
				}
				pctx := ctx
				if c.ctx != nil {
					var cancel func()
					pctx, cancel = c.ctx()
					fs.afterCommit = func(int) { cancel() }
				}
				e := fsync.New(fsync.Config{Store: fs})
				pending := ms[before:]
				_, err := e.Push(pctx, b.asA, d.PushRequest(pending...))
				if err == nil {
					t.Fatalf("%s: the push succeeded", c.name)
				}
				if c.ctx == nil && !domain.IsCode(err, domain.CodeUnavailable) {
					t.Errorf("%s: error %v, want unavailable (the device retries)", c.name, err)
				}
				if got := acked(); got != before+1 {
					t.Fatalf("%s: acknowledged %d, want only the one committed before the failure (%d)", c.name, got, before+1)
				}
				outcomes, err := s.Outcomes(ctx, b.org.ID, d.ClientID, 0)
				if err != nil || len(outcomes) != 0 {
					t.Fatalf("%s: outcomes %+v (%v): a transient failure must not become a rejection", c.name, outcomes, err)
				}
			}
			// Back to normal: the rest of the same batch applies, once.
			if resp, err := d.Push(ctx, ms...); err != nil || resp.LastMutationID != ms[3].ID || resp.Processed != 1 {
				t.Fatalf("retry = %+v, %v", resp, err)
			}
			if n := find[*domain.Lead](t, b, domain.KindLead, lead.ID).InteractionCount; n != 4 {
				t.Fatalf("%d calls logged, want 4", n)
			}
		})
	})
}

// Guarantee 5: field-level merge.
//
// Guards against last-writer-wins on whole records (one phone's offline
// edit silently erasing another's), against a merge whose winner depends
// on timing rather than on a rule, against a losing edit that disappears
// without a word, and against the server writing fields a device did not
// send.
func TestGuarantee05FieldMerge(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		seed := func(l *domain.Lead) {
			l.Street, l.City, l.Zip, l.Notes, l.Email = "1 Elm St", "Troy", "48083", "first visit", "pat@example.test"
			l.WhiteGlove, l.RoutingRule = true, "top_performer"
		}
		rep := synctest.NewDevice(t, b.e, b.asA)
		phone2 := synctest.NewDevice(t, b.e, b.asA) // the rep's second phone
		mgr := synctest.NewDevice(t, b.e, b.asManager)
		old := synctest.NewDeviceSchema(t, b.e, b.asA, 1) // an app two schema versions back

		// Two leads, the same four offline edits, pushed in opposite
		// orders: the first committed edit of a field wins, every time.
		for _, order := range []string{"manager first", "rep first"} {
			lead := b.lead(t, b.repA, seed)
			for _, d := range []*synctest.Device{rep, phone2, mgr, old} {
				d.MustPull(t)
			}
			base := version(rep, domain.KindLead, lead.ID)
			mRep := rep.Mutation("lead.update", update(lead.ID, base, map[string]any{"notes": "dog in yard", "city": "Clawson"}))
			mMgr := mgr.Mutation("lead.update", update(lead.ID, base, map[string]any{"city": "Novi", "zip": "48375"}))
			mPhone := phone2.Mutation("lead.update", update(lead.ID, base, map[string]any{"street": "9 Oak Ave"}))
			mOld := old.Mutation("lead.update", update(lead.ID, base, map[string]any{"email": "lee@example.test"}))
			first, second, firstM, secondM := mgr, rep, mMgr, mRep
			if order == "rep first" {
				first, second, firstM, secondM = rep, mgr, mRep, mMgr
			}
			for _, p := range []struct {
				d *synctest.Device
				m fsync.Mutation
			}{{first, firstM}, {second, secondM}, {phone2, mPhone}, {old, mOld}} {
				if resp, err := p.d.Push(ctx, p.m); err != nil || resp.LastMutationID != p.m.ID {
					t.Fatalf("%s: push = %+v, %v", order, resp, err)
				}
			}
			got := find[*domain.Lead](t, b, domain.KindLead, lead.ID)
			wantCity, yours := "Novi", "Clawson"
			if order == "rep first" {
				wantCity, yours = "Clawson", "Novi"
			}
			if got.City != wantCity || got.Notes != "dog in yard" || got.Zip != "48375" || got.Street != "9 Oak Ave" || got.Email != "lee@example.test" {
				t.Fatalf("%s: city %q notes %q zip %q street %q email %q: every edit of a different field must survive and the first city win",
					order, got.City, got.Notes, got.Zip, got.Street, got.Email)
			}
			// Fields nobody sent are untouched, including those the old
			// app does not know.
			if got.Phone != "248-555-0100" || got.AssignedTo != b.repA.ID || !got.WhiteGlove || got.RoutingRule != "top_performer" {
				t.Fatalf("%s: a field no device sent changed: %+v", order, got)
			}
			for _, d := range []*synctest.Device{rep, phone2, mgr, old} {
				d.MustPull(t)
			}
			o := requireOutcome(t, second, secondM.ID, domain.OutcomeConflict, fsync.ConflictField)
			var details []fsync.FieldConflict
			if err := json.Unmarshal(o.Details, &details); err != nil || len(details) != 1 || details[0].Field != "city" ||
				string(details[0].Yours) != strconv.Quote(yours) || string(details[0].Server) != strconv.Quote(wantCity) {
				t.Fatalf("%s: the loser's conflict = %s (%v), want city: yours %q, server %q", order, o.Details, err, yours, wantCity)
			}
			requireNoOutcome(t, first, firstM.ID)
			requireNoOutcome(t, phone2, mPhone.ID)
			requireNoOutcome(t, old, mOld.ID)
			for _, d := range []*synctest.Device{rep, phone2, mgr, old} {
				if c := str(d, domain.KindLead, lead.ID, "city"); c != wantCity {
					t.Errorf("%s: %s shows city %q, want %q", order, describe(d), c, wantCity)
				}
				d.RequireScope(t, s)
			}
		}
	})
}

// Guarantee 6: deletes.
//
// Guards against a deleted record that stays on a phone that was offline
// when it was deleted, against an offline edit that brings a deleted
// record back (or is silently dropped), and against any later write or
// sync resurrecting it.
func TestGuarantee06DeleteWins(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		techU := sqltest.User(t, s, b.org, domain.RoleFieldTech)
		tr := b.tree(t, b.repA, b.techT)
		visit := sqltest.Appointment(t, s, b.asManager, func(a *domain.Appointment) { a.ProjectID = tr.project.ID })
		rep := synctest.NewDevice(t, b.e, b.asA)
		away := synctest.NewDevice(t, b.e, b.asA) // offline through all of it
		tech := synctest.NewDevice(t, b.e, b.asT)
		mgr := synctest.NewDevice(t, b.e, b.asManager)
		devices := []*synctest.Device{rep, away, tech, mgr}
		for _, d := range devices {
			d.MustPull(t)
		}
		gone := []synctest.Key{
			{Kind: domain.KindAppointment, ID: visit.ID}, {Kind: domain.KindPhoto, ID: tr.photo.ID},
			{Kind: domain.KindAppointment, ID: tr.appointment.ID},
		}
		for _, d := range devices {
			for _, k := range gone {
				// The lead's own appointment is unassigned: not the tech's.
				if !d.Has(k.Kind, k.ID) && (d != tech || k.ID != tr.appointment.ID) {
					t.Fatalf("%s lacks %s before the deletes", describe(d), k.Kind)
				}
			}
		}

		// An edit that lands before the delete: the delete still wins.
		rep.MustPush(t, "appointment.update", update(tr.appointment.ID, version(rep, domain.KindAppointment, tr.appointment.ID), map[string]any{"notes": "rebooked"}))
		// Offline edits of what is about to be deleted.
		techEdit := tech.Mutation("appointment.update", update(visit.ID, version(tech, domain.KindAppointment, visit.ID), map[string]any{"location": "side door"}))
		photoEdit := tech.Mutation("photo.update", update(tr.photo.ID, version(tech, domain.KindPhoto, tr.photo.ID), map[string]any{"caption": "ridge"}))
		repEdit := rep.Mutation("appointment.update", update(visit.ID, version(rep, domain.KindAppointment, visit.ID), map[string]any{"notes": "bring ladder"}))

		// The office deletes the visit and the other appointment; the
		// manager's phone deletes the photo.
		remove(t, s, b.asManager, domain.KindAppointment, visit.ID)
		remove(t, s, b.asManager, domain.KindAppointment, tr.appointment.ID)
		mgr.MustPush(t, "photo.delete", map[string]any{"id": tr.photo.ID})

		for _, p := range []struct {
			d *synctest.Device
			m []fsync.Mutation
		}{{tech, []fsync.Mutation{techEdit, photoEdit}}, {rep, []fsync.Mutation{repEdit}}} {
			if err := p.d.PushPending(ctx); err != nil {
				t.Fatal(err)
			}
			p.d.MustPull(t)
			for _, m := range p.m {
				requireOutcome(t, p.d, m.ID, domain.OutcomeRejected, string(fsync.RejectRecordDeleted))
			}
		}
		mgr.MustPull(t)

		// Later writes around the deleted records, and later pulls: the
		// tech is taken off the project and put back, the lead goes to
		// another rep and comes back, the parents are edited.
		mgrDev := mgr
		moveTech := func(to string) {
			mgrDev.MustPush(t, "project.update", update(tr.project.ID, version(mgrDev, domain.KindProject, tr.project.ID), map[string]any{"assigned_tech": to}))
			mgrDev.MustPull(t)
		}
		moveTech(techU.ID)
		moveTech(b.techT.ID)
		edit(t, s, b.asManager, domain.KindLead, tr.lead.ID, func(l *domain.Lead) { l.AssignedTo = b.repB.ID })
		edit(t, s, b.asManager, domain.KindLead, tr.lead.ID, func(l *domain.Lead) { l.AssignedTo, l.Notes = b.repA.ID, "back" })
		edit(t, s, b.asManager, domain.KindProject, tr.project.ID, func(p *domain.Project) { p.Notes = "phase 2" })
		late := synctest.NewDevice(t, b.e, b.asT) // a device installed after the deletes
		for range 2 {
			for _, d := range append(devices, late) {
				d.MustPull(t)
				for _, k := range gone {
					if d.Has(k.Kind, k.ID) {
						t.Fatalf("%s holds the deleted %s %s", describe(d), k.Kind, k.ID)
					}
				}
			}
		}
		for _, d := range append(devices, late) {
			d.RequireScope(t, s)
		}

		// Nor can anything write them again: the store refuses to update
		// a tombstone, and a create with the same id is refused.
		err := s.Write(ctx, b.asManager, func(tx domain.Tx) error {
			a := *visit
			a.Notes = "undeleted?"
			return tx.Update(&a)
		})
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		again := rep.MustPush(t, "appointment.create", map[string]any{"id": visit.ID, "lead_id": tr.lead.ID, "kind": "inspection",
			"starts_at": at(9, 0), "ends_at": at(10, 0)})
		rep.MustPull(t)
		requireOutcome(t, rep, again.ID, domain.OutcomeRejected, string(fsync.RejectAlreadyExists))
		if rep.Has(domain.KindAppointment, visit.ID) {
			t.Fatal("a create with a deleted record's id brought it back")
		}
	})
}
