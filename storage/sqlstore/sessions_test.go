package sqlstore_test

import (
	"errors"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// sessionFixture is a user with one signed-in session ("h0").
type sessionFixture struct {
	s    *sqlstore.Store
	org  *domain.Organization
	user *domain.User
	root *domain.RefreshToken
	now  time.Time
}

func newSession(t *testing.T, s *sqlstore.Store) *sessionFixture {
	t.Helper()
	f := &sessionFixture{s: s, org: sqltest.Org(t, s), now: time.Now().UTC().Truncate(time.Microsecond)}
	f.user = sqltest.User(t, s, f.org, domain.RoleSales)
	f.root = &domain.RefreshToken{OrgID: f.org.ID, UserID: f.user.ID, TokenHash: "h0-" + uuid.NewString(), ExpiresAt: f.now.Add(time.Hour)}
	if err := s.CreateRefreshToken(ctx, f.root); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *sessionFixture) next(hash string) *domain.RefreshToken {
	return &domain.RefreshToken{TokenHash: hash, ExpiresAt: f.now.Add(2 * time.Hour)}
}

// family reads every token of the session's family straight from the table:
// the port has no read of its own for them.
func (f *sessionFixture) family(t *testing.T) []domain.RefreshToken {
	t.Helper()
	var toks []domain.RefreshToken
	if err := sqlstore.DB(f.s).Where("family_id = ?", f.root.FamilyID).Order("created_at").Find(&toks).Error; err != nil {
		t.Fatal(err)
	}
	return toks
}

func TestRefreshTokenRotation(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		f := newSession(t, s)
		if f.root.FamilyID != f.root.ID || !validUUID(f.root.ID) || f.root.CreatedAt.IsZero() {
			t.Fatalf("first token not filled in: %+v", f.root)
		}
		n1 := f.next("h1")
		used, err := s.RotateRefreshToken(ctx, f.root.TokenHash, n1, f.now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if used.ID != f.root.ID || used.UsedAt == nil || !used.UsedAt.Equal(f.now) {
			t.Errorf("consumed token %+v", used)
		}
		if n1.FamilyID != f.root.FamilyID || n1.UserID != f.user.ID || n1.OrgID != f.org.ID || !validUUID(n1.ID) || !n1.CreatedAt.Equal(f.now) {
			t.Errorf("next token not filled from the old one: %+v", n1)
		}
		// The chain goes on.
		if _, err := s.RotateRefreshToken(ctx, "h1", f.next("h2"), f.now.Add(time.Minute), 0); err != nil {
			t.Fatal(err)
		}
		// Presenting h1 again is a leak: the family dies, h2 with it.
		_, err = s.RotateRefreshToken(ctx, "h1", f.next("h3"), f.now.Add(2*time.Minute), 0)
		sqltest.RequireCode(t, err, domain.CodeRefreshReused)
		_, err = s.RotateRefreshToken(ctx, "h2", f.next("h4"), f.now.Add(3*time.Minute), 0)
		sqltest.RequireCode(t, err, domain.CodeRefreshInvalid)
		for _, tok := range f.family(t) {
			if tok.RevokedAt == nil {
				t.Errorf("token %s survived the reuse", tok.TokenHash)
			}
			if tok.TokenHash == "h3" || tok.TokenHash == "h4" {
				t.Errorf("a refused rotation stored %s", tok.TokenHash)
			}
		}
	})
}

func TestRefreshTokenRefusals(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		f := newSession(t, s)
		_, err := s.RotateRefreshToken(ctx, "unknown", f.next("x1"), f.now, 0)
		sqltest.RequireCode(t, err, domain.CodeRefreshInvalid)
		_, err = s.RotateRefreshToken(ctx, f.root.TokenHash, f.next("x2"), f.root.ExpiresAt, 0)
		sqltest.RequireCode(t, err, domain.CodeRefreshInvalid) // expired at its expiry instant
		_, err = s.RotateRefreshToken(ctx, f.root.TokenHash, &domain.RefreshToken{}, f.now, 0)
		sqltest.RequireCode(t, err, domain.CodeInvalid)

		// Sign-out revokes the family (SessionRevoked says so, for this
		// user only); unknown tokens are fine.
		revoked := func(org, user, family string) bool {
			t.Helper()
			r, err := s.SessionRevoked(ctx, org, user, family)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if revoked(f.org.ID, f.user.ID, f.root.FamilyID) {
			t.Fatal("a live session reads as revoked")
		}
		if err := s.RevokeRefreshToken(ctx, f.root.TokenHash, f.now); err != nil {
			t.Fatal(err)
		}
		if !revoked(f.org.ID, f.user.ID, f.root.FamilyID) || revoked(f.org.ID, uuid.NewString(), f.root.FamilyID) ||
			revoked(f.org.ID, f.user.ID, uuid.NewString()) {
			t.Fatal("SessionRevoked does not match the signed-out family alone")
		}
		if err := s.RevokeRefreshToken(ctx, "unknown", f.now); err != nil {
			t.Fatal(err)
		}
		_, err = s.RotateRefreshToken(ctx, f.root.TokenHash, f.next("x3"), f.now, 0)
		sqltest.RequireCode(t, err, domain.CodeRefreshInvalid)

		// Creating: required fields, unique hash, a user of that organization.
		err = s.CreateRefreshToken(ctx, &domain.RefreshToken{})
		sqltest.RequireCode(t, err, domain.CodeInvalid)
		dup := &domain.RefreshToken{OrgID: f.org.ID, UserID: f.user.ID, TokenHash: f.root.TokenHash, ExpiresAt: f.now}
		sqltest.RequireCode(t, s.CreateRefreshToken(ctx, dup), domain.CodeConflict)
		other := sqltest.Org(t, s)
		stranger := &domain.RefreshToken{OrgID: other.ID, UserID: f.user.ID, TokenHash: "x4", ExpiresAt: f.now}
		err = s.CreateRefreshToken(ctx, stranger)
		sqltest.RequireCode(t, err, domain.CodeInvalid)
		// PostgreSQL names the broken reference; SQLite cannot.
		if s.Dialect() == sqlstore.DialectPostgres {
			var de *domain.Error
			if !errors.As(err, &de) || len(de.Fields) != 1 || de.Fields[0].Field != "user_id" {
				t.Errorf("the error should name user_id: %+v", de)
			}
		}
	})
}

func TestRevokeUserSessions(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		f := newSession(t, s)
		second := &domain.RefreshToken{OrgID: f.org.ID, UserID: f.user.ID, TokenHash: "phone-2", ExpiresAt: f.now.Add(time.Hour)}
		if err := s.CreateRefreshToken(ctx, second); err != nil {
			t.Fatal(err)
		}
		colleague := sqltest.User(t, s, f.org, domain.RoleSales)
		theirs := &domain.RefreshToken{OrgID: f.org.ID, UserID: colleague.ID, TokenHash: "colleague", ExpiresAt: f.now.Add(time.Hour)}
		if err := s.CreateRefreshToken(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeUserSessions(ctx, f.org.ID, f.user.ID, f.now); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{f.root.TokenHash, "phone-2"} {
			_, err := s.RotateRefreshToken(ctx, h, f.next(h+"-next"), f.now, 0)
			sqltest.RequireCode(t, err, domain.CodeRefreshInvalid)
		}
		if _, err := s.RotateRefreshToken(ctx, "colleague", f.next("colleague-next"), f.now, 0); err != nil {
			t.Fatalf("another user's session was revoked: %v", err)
		}
	})
}

// TestConcurrentRotation: two devices (or a retried request) present the
// same token at once. Exactly one rotation wins; the other is treated as the
// reuse it is, and the revocation it causes is committed.
func TestConcurrentRotation(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		for round := range 5 {
			f := newSession(t, s)
			const racers = 4
			errs := make([]error, racers)
			var wg gosync.WaitGroup
			start := make(chan struct{})
			for i := range racers {
				wg.Go(func() {
					<-start
					_, errs[i] = s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(uuid.NewString()), f.now, 0)
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch domain.ErrorCode(err) {
				case "":
					wins++
				case domain.CodeRefreshReused:
				default:
					t.Errorf("round %d: unexpected %v", round, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d rotations won, want 1 (%v)", round, wins, errs)
			}
			for _, tok := range f.family(t) {
				if tok.RevokedAt == nil {
					t.Errorf("round %d: token %s survived the reuse", round, tok.TokenHash)
				}
			}
		}
	})
}

// A phone that lost the answer to its refresh presents the same token
// again: within the grace period, and while it has used none of what it
// was sent, that is a retry, not a theft.
func TestRefreshRetryWithinGrace(t *testing.T) {
	t.Parallel()
	const grace = 30 * time.Second
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		f := newSession(t, s)
		p := "g-" + uuid.NewString() + "-"
		live := func() []string {
			var out []string
			for _, tok := range f.family(t) {
				if tok.RevokedAt == nil && tok.UsedAt == nil {
					out = append(out, tok.TokenHash)
				}
			}
			return out
		}
		if _, err := s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(p+"1"), f.now, grace); err != nil {
			t.Fatal(err)
		}
		// Two retries: each revokes what the lost answer carried.
		for i, h := range []string{p + "2", p + "3"} {
			if _, err := s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(h), f.now.Add(time.Duration(i+1)*10*time.Second), grace); err != nil {
				t.Fatalf("retry %d: %v", i+1, err)
			}
			if got := live(); len(got) != 1 || got[0] != h {
				t.Fatalf("after retry %d the live tokens are %v, want only %s", i+1, got, h)
			}
		}
		// A token the lost answer carried is dead for good.
		_, err := s.RotateRefreshToken(ctx, p+"1", f.next(p+"x"), f.now.Add(25*time.Second), grace)
		sqltest.RequireCode(t, err, domain.CodeRefreshInvalid)
		// The phone goes on with the last answer...
		if _, err := s.RotateRefreshToken(ctx, p+"3", f.next(p+"4"), f.now.Add(26*time.Second), grace); err != nil {
			t.Fatal(err)
		}
		// ...so the first token presented again, still within the grace
		// period, is a replay: the family dies.
		_, err = s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(p+"5"), f.now.Add(27*time.Second), grace)
		sqltest.RequireCode(t, err, domain.CodeRefreshReused)
		if got := live(); len(got) != 0 {
			t.Fatalf("live tokens after the replay: %v", got)
		}
	})
	// The window counts from the first use and ends.
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		f := newSession(t, s)
		p := "h-" + uuid.NewString() + "-"
		if _, err := s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(p+"1"), f.now, grace); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(p+"2"), f.now.Add(20*time.Second), grace); err != nil {
			t.Fatal(err)
		}
		_, err := s.RotateRefreshToken(ctx, f.root.TokenHash, f.next(p+"3"), f.now.Add(grace), grace)
		sqltest.RequireCode(t, err, domain.CodeRefreshReused)
	})
}
