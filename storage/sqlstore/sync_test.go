package sqlstore_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// createLeads writes n leads for owner in one transaction and returns its seq.
func createLeads(t *testing.T, s *sqlstore.Store, p domain.Principal, owner string, n int) int64 {
	t.Helper()
	return mustWrite(t, s, p, func(tx domain.Tx) error {
		for range n {
			if err := tx.Create(&domain.Lead{FirstName: "L", AssignedTo: owner}); err != nil {
				return err
			}
		}
		return nil
	})
}

func seqsOf(rows []domain.ChangeRow) []int64 {
	var out []int64
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1] != r.Seq {
			out = append(out, r.Seq)
		}
	}
	return out
}

func TestPagesHoldWholeTransactions(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		tech := sqltest.User(t, s, org, domain.RoleFieldTech)
		p := sqltest.System(org)
		big := createLeads(t, s, p, rep.ID, 30)
		for range 5 {
			createLeads(t, s, p, rep.ID, 2)
		}
		head := createLeads(t, s, p, "", 3) // nobody's: invisible to the rep
		f := filterOf(rep)

		// A transaction larger than a page comes whole.
		page, err := s.ChangesForScope(ctx, f, big-1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) != 30 || page.UpTo != big || !page.More || !slices.Equal(seqsOf(page.Rows), []int64{big}) {
			t.Fatalf("big page: %d rows, seqs %v, up to %d, more %v", len(page.Rows), seqsOf(page.Rows), page.UpTo, page.More)
		}
		// Then whole seqs that fit: 5 rows fit two transactions of two.
		page, _ = s.ChangesForScope(ctx, f, big, 5)
		if !slices.Equal(seqsOf(page.Rows), []int64{big + 1, big + 2}) || page.UpTo != big+2 || !page.More {
			t.Fatalf("second page: seqs %v, up to %d, more %v", seqsOf(page.Rows), page.UpTo, page.More)
		}
		// The last page runs to the organization's seq, past changes the
		// rep may not see.
		page, _ = s.ChangesForScope(ctx, f, big+4, 5)
		if !slices.Equal(seqsOf(page.Rows), []int64{big + 5}) || page.UpTo != head || page.More {
			t.Fatalf("last page: seqs %v, up to %d (head %d), more %v", seqsOf(page.Rows), page.UpTo, head, page.More)
		}
		if rows := pullAll(t, s, f, 0, 3); len(rows) != 2+30+10 {
			t.Errorf("paged pull from 0 got %d rows", len(rows))
		}

		// An idle device moves with the organization's seq.
		for _, who := range []domain.ScopeFilter{f, filterOf(tech), {OrgID: org.ID, UserID: rep.ID, Role: "intern"}, {OrgID: org.ID, Role: domain.RoleAdmin}} {
			page, err := s.ChangesForScope(ctx, who, big+5, 0)
			if err != nil || len(page.Rows) != 0 || page.UpTo != head || page.More {
				t.Errorf("%+v idle: %+v, %v", who, page, err)
			}
		}
		later := createLeads(t, s, p, "", 1)
		if page, _ := s.ChangesForScope(ctx, f, head, 5); page.UpTo != later || len(page.Rows) != 0 {
			t.Errorf("after an invisible write: %+v", page)
		}
		if page, _ := s.ChangesForScope(ctx, f, later+10, 5); page.UpTo != later+10 {
			t.Errorf("a cursor past the head must not move back: %+v", page)
		}
		_, err = s.ChangesForScope(ctx, domain.ScopeFilter{OrgID: uuid.NewString(), UserID: rep.ID, Role: domain.RoleAdmin}, 0, 5)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
	})
}

// TestConcurrentPullsMissNothing is guarantee 1 at the storage level:
// while writers commit in a race, pullers that only ever ask for "after my
// cursor" end up with exactly what a pull from zero returns afterwards.
func TestConcurrentPullsMissNothing(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		mgr := sqltest.User(t, s, org, domain.RoleManager)
		p := sqltest.As(mgr)
		stores := []*sqlstore.Store{s, sqltest.Reopen(t, s)}
		const writers, txs = 6, 12
		var done gosync.WaitGroup
		finished := make(chan struct{})
		for w := range writers {
			done.Go(func() {
				st := stores[w%2]
				for i := range txs {
					err := st.Write(ctx, p, func(tx domain.Tx) error {
						owner := rep.ID
						if i%3 == 0 {
							owner = mgr.ID
						}
						if err := tx.Create(&domain.Lead{FirstName: fmt.Sprint(w, i), AssignedTo: owner}); err != nil {
							return err
						}
						time.Sleep(time.Duration(i%3) * time.Millisecond) // hold the transaction open a little
						return tx.Create(&domain.Interaction{Subject: "x", OccurredAt: tx.Now()})
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		go func() { done.Wait(); close(finished) }()

		var pullers gosync.WaitGroup
		got := make([][]domain.ChangeRow, 2)
		for i, f := range []domain.ScopeFilter{filterOf(rep), filterOf(mgr)} {
			pullers.Go(func() {
				var cursor int64
				for {
					stop := false
					select {
					case <-finished:
						stop = true // one more pass after the last commit
					default:
					}
					for more := true; more; {
						page, err := stores[i].ChangesForScope(ctx, f, cursor, 5)
						if err != nil {
							t.Error(err)
							return
						}
						got[i] = append(got[i], page.Rows...)
						cursor, more = page.UpTo, page.More
					}
					if stop {
						return
					}
					time.Sleep(time.Millisecond) // let the writers at the database
				}
			})
		}
		pullers.Wait()
		for i, f := range []domain.ScopeFilter{filterOf(rep), filterOf(mgr)} {
			want := pullAll(t, s, f, 0, 1000)
			if len(got[i]) != len(want) {
				t.Fatalf("%s pulled %d rows while writers ran, %d afterwards", f.Role, len(got[i]), len(want))
			}
			for j := range want {
				if got[i][j].Seq != want[j].Seq || got[i][j].EntityID != want[j].EntityID {
					t.Fatalf("%s row %d: %d %s, want %d %s", f.Role, j, got[i][j].Seq, got[i][j].EntityID, want[j].Seq, want[j].EntityID)
				}
			}
		}
	})
}

func TestSyncWriteAppliesExactlyOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		other := sqltest.User(t, s, org, domain.RoleSales)
		dev := &domain.SyncClient{ID: "dev-" + uuid.NewString(), OrgID: org.ID, UserID: rep.ID, Platform: domain.PlatformIOS}
		if err := s.RegisterClient(ctx, dev); err != nil {
			t.Fatal(err)
		}
		lead := &domain.Lead{FirstName: "Pushed", AssignedTo: rep.ID}
		boom := errors.New("boom")
		push := func(result error) error {
			return s.SyncWrite(ctx, sqltest.As(rep), func(tx domain.SyncTx) error {
				c, err := tx.Client(dev.ID)
				if err != nil {
					return err
				}
				tx.SetOrigin(domain.ChangeOrigin{ClientID: dev.ID, MutationID: c.LastMutationID + 1, EchoOnly: true})
				l := *lead
				if err := tx.Create(&l); err != nil {
					return err
				}
				now := tx.Now()
				c.LastMutationID++
				c.LastPushAt = &now
				if err := tx.SaveClient(c); err != nil {
					return err
				}
				if err := tx.RecordOutcome(domain.MutationOutcome{ClientID: dev.ID, MutationID: c.LastMutationID, Name: "lead.create",
					Kind: domain.OutcomeConflict, Code: "conflict", Details: json.RawMessage(`{"field":"notes"}`)}); err != nil {
					return err
				}
				lead.ID = l.ID
				return result
			})
		}
		before, _ := s.SyncState(ctx, org.ID)
		if err := push(boom); !errors.Is(err, boom) {
			t.Fatalf("push = %v", err)
		}
		c, _ := s.FindClient(ctx, org.ID, dev.ID)
		outs, _ := s.Outcomes(ctx, org.ID, dev.ID, 0)
		after, _ := s.SyncState(ctx, org.ID)
		if c.LastMutationID != 0 || c.LastPushAt != nil || len(outs) != 0 || after.Seq != before.Seq {
			t.Fatalf("a rolled-back push left %+v, %+v, seq %d", c, outs, after.Seq)
		}
		if _, err := s.FindRecord(ctx, org.ID, domain.KindLead, lead.ID); !domain.IsCode(err, domain.CodeNotFound) {
			t.Fatalf("its lead survived: %v", err)
		}

		if err := push(nil); err != nil {
			t.Fatal(err)
		}
		c, _ = s.FindClient(ctx, org.ID, dev.ID)
		outs, _ = s.Outcomes(ctx, org.ID, dev.ID, 0)
		if c.LastMutationID != 1 || c.LastPushAt == nil || len(outs) != 1 || string(outs[0].Details) == "" {
			t.Fatalf("after the push: %+v, %+v", c, outs)
		}
		var d map[string]string
		if err := json.Unmarshal(outs[0].Details, &d); err != nil || d["field"] != "notes" || outs[0].Kind != domain.OutcomeConflict {
			t.Errorf("outcome %+v", outs[0])
		}
		page, _ := s.ChangesForScope(ctx, filterOf(rep), after.Seq, 10)
		if len(page.Rows) != 1 || page.Rows[0].Origin != (domain.ChangeOrigin{ClientID: dev.ID, MutationID: 1, EchoOnly: true}) {
			t.Errorf("the pushed change's origin: %+v", page.Rows)
		}

		err := s.SyncWrite(ctx, sqltest.As(rep), func(tx domain.SyncTx) error {
			_, err := tx.Client("no-such-device")
			sqltest.RequireCode(t, err, domain.CodeNotFound)
			// Another user's device id is refused without dooming the push.
			sqltest.RequireCode(t, tx.SaveClient(&domain.SyncClient{ID: dev.ID, UserID: other.ID}), domain.CodeForbidden)
			sqltest.RequireCode(t, tx.SaveClient(&domain.SyncClient{ID: "", UserID: rep.ID}), domain.CodeInvalid)
			sqltest.RequireCode(t, tx.RecordOutcome(domain.MutationOutcome{ClientID: dev.ID, MutationID: 0, Kind: "meh"}), domain.CodeInvalid)
			sqltest.RequireCode(t, tx.RecordOutcome(domain.MutationOutcome{ClientID: dev.ID, MutationID: 2, Kind: domain.OutcomeRejected,
				Details: json.RawMessage(`{nope`)}), domain.CodeInvalid)
			// A device first seen in a push is created.
			return tx.SaveClient(&domain.SyncClient{ID: "fresh-device", UserID: rep.ID, LastMutationID: 3})
		})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := s.FindClient(ctx, org.ID, "fresh-device"); err != nil || c.LastMutationID != 3 || c.CreatedAt.IsZero() {
			t.Errorf("fresh device %+v, %v", c, err)
		}
		// Another organization cannot load the device.
		stranger := sqltest.User(t, s, sqltest.Org(t, s), domain.RoleAdmin)
		err = s.SyncWrite(ctx, sqltest.As(stranger), func(tx domain.SyncTx) error {
			_, err := tx.Client(dev.ID)
			return err
		})
		sqltest.RequireCode(t, err, domain.CodeNotFound)
	})
}

func TestStateAtAndPruning(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		repA := sqltest.User(t, s, org, domain.RoleSales)
		repB := sqltest.User(t, s, org, domain.RoleSales)
		p := sqltest.System(org)
		lead := sqltest.Lead(t, s, p, func(l *domain.Lead) { l.Notes, l.AssignedTo = "first", repA.ID })
		cust := sqltest.Customer(t, s, p, func(c *domain.Customer) { c.LeadID = lead.ID })
		s1 := cust.Version
		time.Sleep(2 * time.Millisecond)
		cut := time.Now()
		time.Sleep(2 * time.Millisecond)
		s2 := mustWrite(t, s, p, update(lead, func(l *domain.Lead) { l.Notes = "second" }))
		s3 := mustWrite(t, s, p, update(lead, func(l *domain.Lead) { l.AssignedTo = repB.ID })) // grants cust to B

		stateAt := func(kind domain.EntityKind, id string, seq int64) (string, bool) {
			t.Helper()
			var out string
			var ok bool
			err := s.SyncWrite(ctx, p, func(tx domain.SyncTx) error {
				state, found, err := tx.StateAt(kind, id, seq)
				if found {
					var l struct {
						Notes   string `json:"notes"`
						Version int64  `json:"version"`
					}
					if err := json.Unmarshal(state, &l); err != nil {
						return err
					}
					out = fmt.Sprintf("%s@%d", l.Notes, l.Version)
				}
				ok = found
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return out, ok
		}
		first, ok := stateAt(domain.KindLead, lead.ID, s2-1)
		if !ok || first != fmt.Sprintf("first@%d", s1-1) {
			t.Errorf("StateAt(s2-1) = %q, %v", first, ok)
		}
		if got, ok := stateAt(domain.KindLead, lead.ID, s2); !ok || got != fmt.Sprintf("second@%d", s2) {
			t.Errorf("StateAt(s2) = %q, %v", got, ok)
		}
		if got, ok := stateAt(domain.KindLead, lead.ID, s3+5); !ok || got != fmt.Sprintf("second@%d", s3) {
			t.Errorf("StateAt(past the head) = %q, %v", got, ok)
		}
		// The grant at s3 is not a state of the customer: its creation is.
		if got, ok := stateAt(domain.KindCustomer, cust.ID, s3); !ok || got != fmt.Sprintf("@%d", s1) {
			t.Errorf("customer StateAt(s3) = %q, %v", got, ok)
		}
		if _, ok := stateAt(domain.KindLead, lead.ID, s1-2); ok {
			t.Error("a state before the record existed")
		}
		if _, ok := stateAt(domain.KindLead, uuid.NewString(), s3); ok {
			t.Error("a state of no record")
		}

		// Outcomes are pruned by age too.
		dev := &domain.SyncClient{ID: "d1", OrgID: org.ID, UserID: repA.ID}
		if err := s.RegisterClient(ctx, dev); err != nil {
			t.Fatal(err)
		}
		if err := s.SyncWrite(ctx, sqltest.As(repA), func(tx domain.SyncTx) error {
			for i, at := range []time.Time{cut.Add(-time.Hour), cut.Add(time.Hour)} {
				o := domain.MutationOutcome{ClientID: dev.ID, MutationID: int64(i + 1), Kind: domain.OutcomeRejected, CreatedAt: at}
				if err := tx.RecordOutcome(o); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		n, err := s.PruneHistory(ctx, org.ID, cut)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := s.SyncState(ctx, org.ID)
		if st.Floor != s1 || n != s1 { // one row per seq up to s1
			t.Fatalf("pruned %d rows, floor %d; want %d, %d", n, st.Floor, s1, s1)
		}
		if rest, _ := s.ChangesSince(ctx, org.ID, 0, 0); len(rest) == 0 || rest[0].Seq != s2 {
			t.Errorf("history after pruning: %+v", rest)
		}
		if _, ok := stateAt(domain.KindLead, lead.ID, s2-1); ok {
			t.Error("StateAt below the floor must say the history is gone")
		}
		if _, ok := stateAt(domain.KindLead, lead.ID, s2); !ok {
			t.Error("StateAt above the floor lost")
		}
		if outs, _ := s.Outcomes(ctx, org.ID, dev.ID, 0); len(outs) != 1 || outs[0].MutationID != 2 {
			t.Errorf("outcomes after pruning: %+v", outs)
		}
		if n, err := s.PruneHistory(ctx, org.ID, cut); n != 0 || err != nil {
			t.Errorf("pruning again: %d, %v", n, err)
		}
		if st2, _ := s.SyncState(ctx, org.ID); st2 != st {
			t.Errorf("pruning again moved the state: %+v → %+v", st, st2)
		}
		_, err = s.PruneHistory(ctx, uuid.NewString(), cut)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
	})
}

func TestSyncStateAndEpoch(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org, other := sqltest.Org(t, s), sqltest.Org(t, s)
		st, err := s.SyncState(ctx, org.ID)
		if err != nil || st.Epoch == "" || st.Seq != 0 || st.Floor != 0 {
			t.Fatalf("a new organization's state: %+v, %v", st, err)
		}
		if o, _ := s.SyncState(ctx, other.ID); o.Epoch == st.Epoch {
			t.Error("two organizations share an epoch")
		}
		sqltest.Lead(t, s, sqltest.System(org))
		epoch, err := s.RotateEpoch(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		now, _ := s.SyncState(ctx, org.ID)
		if epoch == st.Epoch || now.Epoch != epoch || now.Seq != 1 {
			t.Errorf("after rotating: %+v (was %+v, returned %q)", now, st, epoch)
		}
		_, err = s.RotateEpoch(ctx, uuid.NewString())
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		_, err = s.SyncState(ctx, uuid.NewString())
		sqltest.RequireCode(t, err, domain.CodeNotFound)
	})
}

// commits records what the commit hook hears.
type commits struct {
	mu    gosync.Mutex
	calls []string
}

func (c *commits) hook(orgID string, seq int64, users []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprint(seq, users))
}

func (c *commits) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func TestOnCommit(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		repA := sqltest.User(t, s, org, domain.RoleSales)
		repB := sqltest.User(t, s, org, domain.RoleSales)
		mgr := sqltest.User(t, s, org, domain.RoleManager)
		var heard commits
		s.OnCommit(heard.hook)
		p := sqltest.As(mgr)
		want := func(what string, calls ...string) {
			t.Helper()
			if got := heard.take(); !slices.Equal(got, calls) {
				t.Errorf("%s: hook heard %q, want %q", what, got, calls)
			}
		}
		sorted := func(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }

		lead := sqltest.Lead(t, s, p, func(l *domain.Lead) { l.AssignedTo = repA.ID })
		want("create", fmt.Sprint(lead.Version, []string{repA.ID}))
		sqltest.Customer(t, s, p, func(c *domain.Customer) { c.LeadID = lead.ID })
		heard.take()
		seq := mustWrite(t, s, p, update(lead, func(l *domain.Lead) { l.AssignedTo = repB.ID }))
		want("reassign", fmt.Sprint(seq, sorted(repA.ID, repB.ID)))
		seq = createLeads(t, s, p, "", 1)
		want("nobody's lead", fmt.Sprint(seq, []string{}))

		boom := errors.New("boom")
		_ = s.Write(ctx, p, func(tx domain.Tx) error {
			_ = tx.Create(&domain.Lead{AssignedTo: repA.ID})
			return boom
		})
		_ = s.Write(ctx, p, func(tx domain.Tx) error { _, err := tx.Find(domain.KindLead, lead.ID); return err })
		want("rollback and read-only")

		// A retried attempt rolled back: only the one that commits counts.
		attempts := 0
		err := s.SyncWrite(ctx, p, func(tx domain.SyncTx) error {
			attempts++
			owner := repA.ID
			if attempts == 2 {
				owner = repB.ID
			}
			if err := tx.Create(&domain.Lead{AssignedTo: owner}); err != nil {
				return err
			}
			if attempts == 1 {
				return &pgconn.PgError{Code: "40001"} // a lost serialization race
			}
			return nil
		})
		if err != nil || attempts != 2 {
			t.Fatalf("retried write: %v after %d attempts", err, attempts)
		}
		st, _ := s.SyncState(ctx, org.ID)
		want("retried", fmt.Sprint(st.Seq, []string{repB.ID}))

		// Every member holds the team directory.
		tech := sqltest.User(t, s, org, domain.RoleFieldTech)
		want("new user", fmt.Sprint(tech.Version, sorted(repA.ID, repB.ID, mgr.ID, tech.ID)))

		s.OnCommit(nil)
		sqltest.Lead(t, s, p)
		want("hook off")
	})
}

func TestScopeChecksum(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := buildChain(t, s)
		admin := sqltest.User(t, s, c.org, domain.RoleAdmin)
		idle := sqltest.User(t, s, c.org, domain.RoleFieldTech)
		sum := func(u *domain.User, kind domain.EntityKind) domain.ScopePart {
			t.Helper()
			part, err := s.ScopeChecksum(ctx, filterOf(u), kind)
			if err != nil {
				t.Fatal(err)
			}
			return part
		}
		if got := sum(idle, domain.KindProject); got.Count != 0 || got.Hash != sha256Hex("") {
			t.Errorf("empty scope: %+v", got)
		}
		// Equal sets hash equal, whoever holds them.
		for _, kind := range domain.SyncedKinds() {
			if a, m := sum(admin, kind), sum(c.mgr, kind); a != m {
				t.Errorf("%s: admin %+v, manager %+v", kind, a, m)
			}
		}
		before := sum(c.repA, domain.KindInteraction)
		want := []string{c.leadNote.ID, c.projNote.ID}
		slices.Sort(want)
		lines := ""
		for _, id := range want {
			lines += fmt.Sprintf("%s:%d\n", id, find(t, s, recordOf(c.leadOwned, id)).Base().Version)
		}
		if before.Count != 2 || before.Hash != sha256Hex(lines) {
			t.Errorf("rep's interactions %+v, want hash of %q", before, lines)
		}
		// A new version changes the hash, not the count.
		mustWrite(t, s, c.managerPrincipal, update(c.projNote, func(i *domain.Interaction) { i.Subject = "edited" }))
		if after := sum(c.repA, domain.KindInteraction); after.Count != 2 || after.Hash == before.Hash {
			t.Errorf("after an edit: %+v (before %+v)", after, before)
		}
		_, err := s.ScopeChecksum(ctx, filterOf(c.repA), domain.KindReview)
		sqltest.RequireCode(t, err, domain.CodeInvalid)
		_, err = s.SnapshotPage(ctx, filterOf(c.repA), domain.KindDevice, "", 10)
		sqltest.RequireCode(t, err, domain.CodeInvalid)
	})
}

func TestRegisterClient(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		other := sqltest.User(t, s, org, domain.RoleSales)
		stranger := sqltest.User(t, s, sqltest.Org(t, s), domain.RoleSales)
		id := uuid.NewString()
		c := &domain.SyncClient{ID: id, OrgID: org.ID, UserID: rep.ID, Platform: domain.PlatformIOS, AppVersion: "1.0.0", SchemaVersion: 2}
		if err := s.RegisterClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c.CreatedAt.IsZero() || c.LastMutationID != 0 || c.Cursor != "" {
			t.Fatalf("registered %+v", c)
		}
		// A push advances it; registering again keeps that.
		if err := s.SyncWrite(ctx, sqltest.As(rep), func(tx domain.SyncTx) error {
			got, err := tx.Client(id)
			if err != nil {
				return err
			}
			got.LastMutationID = 5
			return tx.SaveClient(got)
		}); err != nil {
			t.Fatal(err)
		}
		again := &domain.SyncClient{ID: id, OrgID: org.ID, UserID: rep.ID, Platform: domain.PlatformAndroid, AppVersion: "1.1.0", SchemaVersion: 3}
		if err := s.RegisterClient(ctx, again); err != nil {
			t.Fatal(err)
		}
		if again.LastMutationID != 5 || again.AppVersion != "1.1.0" || again.Platform != domain.PlatformAndroid ||
			again.SchemaVersion != 3 || !again.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("re-registered %+v", again)
		}
		// Someone else's device id.
		for _, u := range []*domain.User{other, stranger} {
			err := s.RegisterClient(ctx, &domain.SyncClient{ID: id, OrgID: u.OrgID, UserID: u.ID})
			sqltest.RequireCode(t, err, domain.CodeForbidden)
		}
		for _, bad := range []*domain.SyncClient{nil, {OrgID: org.ID, UserID: rep.ID}, {ID: "x", UserID: rep.ID},
			{ID: "x", OrgID: org.ID}, {ID: "x", OrgID: org.ID, UserID: stranger.ID}} {
			sqltest.RequireCode(t, s.RegisterClient(ctx, bad), domain.CodeInvalid)
		}
		got, err := s.FindClient(ctx, org.ID, id)
		if err != nil || got.UserID != rep.ID || got.LastMutationID != 5 {
			t.Fatalf("FindClient = %+v, %v", got, err)
		}
		_, err = s.FindClient(ctx, stranger.OrgID, id)
		sqltest.RequireCode(t, err, domain.CodeNotFound)

		at := time.Now()
		if err := s.TouchPull(ctx, org.ID, id, "cursor-1", domain.RoleSales, at); err != nil {
			t.Fatal(err)
		}
		got, _ = s.FindClient(ctx, org.ID, id)
		if got.Cursor != "cursor-1" || got.Role != domain.RoleSales || got.LastPullAt == nil ||
			!got.LastPullAt.Equal(at.UTC().Truncate(time.Microsecond)) || got.LastMutationID != 5 {
			t.Errorf("after a pull: %+v", got)
		}
		sqltest.RequireCode(t, s.TouchPull(ctx, stranger.OrgID, id, "c", domain.RoleSales, at), domain.CodeNotFound)

		// Outcomes come by mutation id, after the acknowledged one.
		if err := s.SyncWrite(ctx, sqltest.As(rep), func(tx domain.SyncTx) error {
			for _, m := range []int64{3, 1, 2} {
				if err := tx.RecordOutcome(domain.MutationOutcome{ClientID: id, MutationID: m, Kind: domain.OutcomeRejected,
					Code: "forbidden", Message: fmt.Sprint("no ", m)}); err != nil {
					return err
				}
			}
			// Recording one again replaces it.
			return tx.RecordOutcome(domain.MutationOutcome{ClientID: id, MutationID: 2, Kind: domain.OutcomeRejected, Code: "invalid"})
		}); err != nil {
			t.Fatal(err)
		}
		outs, err := s.Outcomes(ctx, org.ID, id, 1)
		if err != nil || len(outs) != 2 || outs[0].MutationID != 2 || outs[0].Code != "invalid" || outs[1].MutationID != 3 ||
			outs[1].Details != nil || outs[1].OrgID != org.ID || outs[1].CreatedAt.IsZero() {
			t.Errorf("Outcomes = %+v, %v", outs, err)
		}
		if outs, err := s.Outcomes(ctx, org.ID, id, 3); err != nil || outs == nil || len(outs) != 0 {
			t.Errorf("no outcomes: %#v, %v", outs, err)
		}
	})
}

// TestMigrationBackfillsOldRows plays a database written before sync: its
// records gain their scope, its organization an epoch, and its history a
// floor, so that no pull is served from change rows without state.
func TestMigrationBackfillsOldRows(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		if err := sqlstore.MigrateTo(ctx, s, 1); err != nil {
			t.Fatal(err)
		}
		db := sqlstore.DB(s)
		now := time.Now().UTC().Truncate(time.Microsecond)
		org := &domain.Organization{ID: uuid.NewString(), Name: "Old", Slug: "old-" + uuid.NewString()[:8], CreatedAt: now, UpdatedAt: now, ChangeSeq: 9}
		if err := db.Create(org).Error; err != nil {
			t.Fatal(err)
		}
		meta := func() domain.Meta {
			return domain.Meta{ID: uuid.NewString(), OrgID: org.ID, Version: 9, CreatedAt: now, UpdatedAt: now}
		}
		rep := &domain.User{Meta: meta(), Email: uuid.NewString() + "@x.test", Role: domain.RoleSales}
		tech := &domain.User{Meta: meta(), Email: uuid.NewString() + "@x.test", Role: domain.RoleFieldTech}
		lead := &domain.Lead{Meta: meta(), AssignedTo: rep.ID}
		cust := &domain.Customer{Meta: meta(), LeadID: lead.ID}
		proj := &domain.Project{Meta: meta(), CustomerID: cust.ID, AssignedTech: tech.ID}
		recs := []domain.Record{rep, tech, lead, cust, proj,
			&domain.Appointment{Meta: meta(), ProjectID: proj.ID, StartsAt: now, EndsAt: now},
			&domain.Interaction{Meta: meta(), CustomerID: cust.ID, OccurredAt: now},
			&domain.Photo{Meta: meta(), ProjectID: proj.ID, TakenAt: now},
			&domain.Alert{Meta: meta(), LeadID: lead.ID, RecipientID: tech.ID}}
		for _, r := range recs {
			if err := db.Table(sqlstore.Tables()[string(r.EntityKind())]).Create(r).Error; err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Exec("INSERT INTO changes (org_id, seq, entity_kind, entity_id, op, actor_id, created_at) VALUES (?, 9, 'lead', ?, 'upsert', '', ?)",
			org.ID, lead.ID, now).Error; err != nil {
			t.Fatal(err)
		}

		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := s.SyncState(ctx, org.ID)
		if err != nil || st.Epoch == "" || st.Seq != 9 || st.Floor != 9 {
			t.Fatalf("state after migrating: %+v, %v", st, err)
		}
		for _, r := range recs {
			a, err := s.ResolveAnchor(ctx, org.ID, r.EntityKind(), r.Base().ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := scopeColumns(t, s, r); got != owners(a) {
				t.Errorf("%s scope %+v, anchor %+v", r.EntityKind(), got, a)
			}
		}
		for u, want := range map[*domain.User]int{rep: 2 + 7, tech: 2 + 4} { // users + records in scope
			n := 0
			for _, kind := range domain.SyncedKinds() {
				page, err := s.SnapshotPage(ctx, filterOf(u), kind, "", 100)
				if err != nil {
					t.Fatal(err)
				}
				n += len(page)
			}
			if n != want {
				t.Errorf("%s's snapshot after migrating holds %d records, want %d", u.Role, n, want)
			}
		}
		old, _ := s.ChangesSince(ctx, org.ID, 0, 0)
		if len(old) != 1 || old[0].Seq != 9 {
			t.Errorf("old history: %+v", old)
		}
		// The old database takes writes the new way.
		sqltest.Lead(t, s, sqltest.System(org), func(l *domain.Lead) { l.AssignedTo = rep.ID })
		if page, _ := s.ChangesForScope(ctx, filterOf(rep), st.Floor, 10); len(page.Rows) != 1 || page.Rows[0].Payload == nil {
			t.Errorf("a write after migrating: %+v", page.Rows)
		}
	}, sqltest.Unmigrated())
}

// A page large enough to be encoded on several cores holds the same
// records, in id order, as reading them one by one.
func TestSnapshotPageInParallel(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		mgr := sqltest.User(t, s, org, domain.RoleManager)
		const n = 700
		err := s.Write(ctx, sqltest.System(org), func(tx domain.Tx) error {
			for i := range n {
				l := &domain.Lead{FirstName: fmt.Sprintf("Lead %d", i), Source: "web", Status: domain.LeadNew}
				if err := tx.Create(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.SnapshotPage(ctx, filterOf(mgr), domain.KindLead, "", n+10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != n {
			t.Fatalf("page of %d leads, want %d", len(page), n)
		}
		for i, r := range page {
			if i > 0 && page[i-1].ID >= r.ID {
				t.Fatalf("record %d (%s) after %s: not in id order", i, r.ID, page[i-1].ID)
			}
			rec, err := s.FindRecord(ctx, org.ID, domain.KindLead, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			requireSameJSON(t, r.Payload, rec)
			if r.Version != rec.Base().Version || r.Kind != domain.KindLead {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
	})
}

// requireSameJSON checks that payload says what json.Marshal(rec) says. The
// JSON-typed columns come as the database holds them (PostgreSQL's jsonb
// spaces and orders keys its own way), so the comparison is by value.
func requireSameJSON(t *testing.T, payload []byte, rec domain.Record) {
	t.Helper()
	want, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(payload, &g); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, payload)
	}
	_ = json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("snapshot payload\n got %s\nwant %s", payload, want)
	}
}

// Records with JSON-typed columns (a lead's score breakdown, a user's
// territories and skills, set or not) come out of a snapshot whole.
func TestSnapshotPageJSONColumns(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		mgr := sqltest.User(t, s, org, domain.RoleManager)
		sqltest.User(t, s, org, domain.RoleSales, func(u *domain.User) {
			u.Territories, u.Skills = []string{"48301", "48009"}, []string{"metal \"standing\" seam", "<slate>"}
		})
		sqltest.User(t, s, org, domain.RoleSales, func(u *domain.User) { u.Territories = []string{} })
		for i := range 3 {
			sqltest.Lead(t, s, sqltest.System(org), func(l *domain.Lead) {
				l.PropertyValue, l.Income, l.Budget = int64(200_000+i*150_000), int64(50_000+i*40_000), domain.BudgetConfirmed
				l.Notes = `"score_breakdown":{"bant":0}`
				l.Rescore(org.Settings)
			})
		}
		for _, kind := range []domain.EntityKind{domain.KindUser, domain.KindLead} {
			page, err := s.SnapshotPage(ctx, filterOf(mgr), kind, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) < 3 {
				t.Fatalf("%d %s records", len(page), kind)
			}
			for _, r := range page {
				rec, err := s.FindRecord(ctx, org.ID, kind, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				requireSameJSON(t, r.Payload, rec)
			}
		}
	})
}

// The overlap check takes the organization's lock before it reads: two
// transactions that read nothing else in common cannot both find the slot
// free and both book it.
func TestOverlapCheckIsSerialized(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		p := domain.Principal{OrgID: org.ID, UserID: rep.ID, Role: rep.Role}
		start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		const writers = 8
		var wg gosync.WaitGroup
		gate := make(chan struct{})
		for range writers {
			wg.Go(func() {
				<-gate
				err := s.SyncWrite(ctx, p, func(tx domain.SyncTx) error {
					clashes, err := tx.OverlappingAppointments(rep.ID, start, start.Add(time.Hour), "")
					if err != nil || len(clashes) > 0 {
						return err
					}
					// Give the others time to run their check meanwhile.
					time.Sleep(20 * time.Millisecond)
					return tx.Create(&domain.Appointment{Kind: "inspection", Title: "Roof", AssignedTo: rep.ID,
						StartsAt: start, EndsAt: start.Add(time.Hour), Status: domain.AppointmentScheduled})
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		close(gate)
		wg.Wait()
		changes, err := s.ChangesSince(ctx, org.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range changes {
			if c.Kind == domain.KindAppointment {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d appointments booked in one slot, want 1", n)
		}
	})
}
