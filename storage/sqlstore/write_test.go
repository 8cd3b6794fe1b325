package sqlstore_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// fill sets every field of the struct v points to, except the header the
// write path owns (Meta, Tombstone), to a distinct non-zero value, so a
// round trip proves every column is written and read back. Times carry
// nanoseconds and a non-UTC zone to prove they come back normalized.
func fill(v reflect.Value, n *int) {
	zone := time.FixedZone("CDT", -5*3600)
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if sf.Name == "Meta" || sf.Name == "Tombstone" || !f.CanSet() {
			continue
		}
		*n++
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("%s-%d", sf.Name, *n))
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(*n) + 1<<40*int64(f.Type().Size()/8))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Float64:
			f.SetFloat(float64(*n) + 0.123456789)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{fmt.Sprintf("a%d", *n), "b"}))
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			if f.Type().Elem() == reflect.TypeFor[time.Time]() {
				p.Elem().Set(reflect.ValueOf(time.Date(2025, 3, 4, 5, 6, 7, 123456789+*n, zone)))
			} else {
				setScalar(p.Elem(), *n)
			}
			f.Set(p)
		case reflect.Struct:
			if f.Type() == reflect.TypeFor[time.Time]() {
				f.Set(reflect.ValueOf(time.Date(2024, 11, 2, 3, 4, 5, 987654321+*n, zone)))
			} else {
				fill(f, n)
			}
		default:
			panic("fill: unhandled kind " + f.Kind().String() + " of " + sf.Name)
		}
	}
}

func setScalar(v reflect.Value, n int) {
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	default:
		panic("setScalar: " + v.Kind().String())
	}
}

// requireNoZeroFields fails if any field outside the header is zero: it
// would mean a column was silently not stored.
func requireNoZeroFields(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if sf.Name == "Meta" || sf.Name == "Tombstone" {
			continue
		}
		if f.IsZero() {
			t.Errorf("%s.%s came back zero", path, sf.Name)
		}
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		admin := sqltest.User(t, s, org, domain.RoleAdmin)
		p := sqltest.As(admin)
		roundTrip := func(rec domain.Record) domain.Record {
			t.Helper()
			k := rec.EntityKind()
			if err := s.Write(ctx, p, func(tx domain.Tx) error { return tx.Create(rec) }); err != nil {
				t.Fatalf("create %s: %v", k, err)
			}
			got, err := s.FindRecord(ctx, org.ID, k, rec.Base().ID)
			if err != nil {
				t.Fatalf("find %s: %v", k, err)
			}
			if !reflect.DeepEqual(got, rec) {
				t.Errorf("%s round trip:\n got %+v\nwant %+v", k, got, rec)
			}
			return got
		}
		for _, k := range domain.EntityKinds() {
			// Zero values (nil pointers and slices, zero times) come back as
			// they went in...
			roundTrip(sqlstore.NewRecord(k))
			// ...and so does every field set.
			rec := sqlstore.NewRecord(k)
			n := 0
			fill(reflect.ValueOf(rec).Elem(), &n)
			got := roundTrip(rec)
			requireNoZeroFields(t, reflect.ValueOf(got).Elem(), string(k))
			m := got.Base()
			if m.OrgID != org.ID || m.CreatedBy != admin.ID || m.UpdatedBy != admin.ID || m.Version < 1 ||
				m.CreatedAt.IsZero() || !m.CreatedAt.Equal(m.UpdatedAt) || m.CreatedAt.Location() != time.UTC {
				t.Errorf("%s header not stamped: %+v", k, m)
			}
			checkTimesNormalized(t, reflect.ValueOf(got).Elem(), string(k))
		}
	})
}

// checkTimesNormalized asserts every time is UTC with microsecond precision.
func checkTimesNormalized(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		var tm time.Time
		switch x := f.Interface().(type) {
		case time.Time:
			tm = x
		case *time.Time:
			if x == nil {
				continue
			}
			tm = *x
		default:
			if f.Kind() == reflect.Struct {
				checkTimesNormalized(t, f, path+"."+v.Type().Field(i).Name)
			}
			continue
		}
		if tm.Location() != time.UTC || tm.Nanosecond()%1000 != 0 {
			t.Errorf("%s.%s = %v: not UTC microseconds", path, v.Type().Field(i).Name, tm)
		}
	}
}

func TestOrganizationRoundTrip(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := &domain.Organization{
			Name: " iSwitch Roofs ", Slug: "ISwitch", TimeZone: "America/New_York",
			Settings: domain.OrgSettings{HotThreshold: 85, WarmThreshold: 65, CoolThreshold: 45,
				PremiumZips: []string{"33101"}, TargetZips: []string{"33139", "33140"}},
		}
		if err := s.CreateOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		if org.Name != "iSwitch Roofs" || org.Slug != "iswitch" || !validUUID(org.ID) {
			t.Fatalf("not normalized: %+v", org)
		}
		for _, find := range []func() (*domain.Organization, error){
			func() (*domain.Organization, error) { return s.FindOrganization(ctx, org.ID) },
			func() (*domain.Organization, error) { return s.FindOrganizationBySlug(ctx, "iSwitch") },
		} {
			got, err := find()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, org) {
				t.Errorf("got %+v\nwant %+v", got, org)
			}
		}

		plain := &domain.Organization{Name: "Plain", Slug: "plain"}
		if err := s.CreateOrganization(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(plain.Settings, domain.DefaultOrgSettings()) {
			t.Errorf("zero settings should become the defaults, got %+v", plain.Settings)
		}

		err := s.CreateOrganization(ctx, &domain.Organization{Name: "Dup", Slug: "PLAIN"})
		sqltest.RequireCode(t, err, domain.CodeConflict)
		err = s.CreateOrganization(ctx, &domain.Organization{Name: " ", Slug: ""})
		sqltest.RequireCode(t, err, domain.CodeInvalid)
		var de *domain.Error
		if !errors.As(err, &de) || len(de.Fields) != 2 {
			t.Errorf("want both fields named, got %+v", de)
		}
		err = s.CreateOrganization(ctx, &domain.Organization{ID: "nope", Name: "X", Slug: "x"})
		sqltest.RequireCode(t, err, domain.CodeInvalid)

		_, err = s.FindOrganization(ctx, uuid.NewString())
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		_, err = s.FindOrganizationBySlug(ctx, "missing")
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		if seq, err := s.OrgSeq(ctx, org.ID); err != nil || seq != 0 {
			t.Errorf("OrgSeq of a new organization = %d, %v", seq, err)
		}
		_, err = s.OrgSeq(ctx, uuid.NewString())
		sqltest.RequireCode(t, err, domain.CodeNotFound)
	})
}

func validUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

func TestWriteSharesOneSeqPerTransaction(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales) // seq 1
		p := sqltest.As(rep)

		lead := &domain.Lead{FirstName: "Ann", Status: domain.LeadNew}
		appt := &domain.Appointment{Title: "Inspect", StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)}
		err := s.Write(ctx, p, func(tx domain.Tx) error {
			if err := tx.Create(lead); err != nil {
				return err
			}
			appt.LeadID = lead.ID
			if err := tx.Create(appt); err != nil {
				return err
			}
			// A second write of the same record in the transaction.
			lead.Status = domain.LeadContacted
			return tx.Update(lead)
		})
		if err != nil {
			t.Fatal(err)
		}
		if lead.Version != 2 || appt.Version != 2 {
			t.Fatalf("versions = %d, %d; want 2, 2", lead.Version, appt.Version)
		}
		if seq, _ := s.OrgSeq(ctx, org.ID); seq != 2 {
			t.Fatalf("OrgSeq = %d, want 2", seq)
		}
		changes, err := s.ChangesSince(ctx, org.ID, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []domain.Change{
			{OrgID: org.ID, Seq: 2, Kind: domain.KindAppointment, EntityID: appt.ID, Op: domain.OpUpsert, ActorID: rep.ID},
			{OrgID: org.ID, Seq: 2, Kind: domain.KindLead, EntityID: lead.ID, Op: domain.OpUpsert, ActorID: rep.ID},
		}
		if !reflect.DeepEqual(changes, want) {
			t.Fatalf("changes:\n got %+v\nwant %+v", changes, want)
		}

		// The next transaction takes exactly the next number, and a
		// delete after an upsert in one transaction logs the delete.
		err = s.Write(ctx, p, func(tx domain.Tx) error {
			lead.Notes = "call back"
			if err := tx.Update(lead); err != nil {
				return err
			}
			return tx.Delete(domain.KindAppointment, appt.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		changes, _ = s.ChangesSince(ctx, org.ID, 2, 0)
		if len(changes) != 2 || changes[0].Seq != 3 || changes[0].Op != domain.OpDelete || changes[1].Op != domain.OpUpsert {
			t.Fatalf("changes after seq 2: %+v", changes)
		}
		all, _ := s.ChangesSince(ctx, org.ID, 0, 2)
		if len(all) != 2 || all[0].Seq != 1 || all[0].Kind != domain.KindUser {
			t.Fatalf("limited changes from 0: %+v", all)
		}

		// A transaction that writes nothing takes no number.
		if err := s.Write(ctx, p, func(tx domain.Tx) error {
			_, err := tx.Find(domain.KindLead, lead.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if seq, _ := s.OrgSeq(ctx, org.ID); seq != 3 {
			t.Fatalf("OrgSeq after a read-only write = %d, want 3", seq)
		}
	})
}

func TestUpdateKeepsCreationAudit(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	clock := &stepClock{now: now}
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		mgr := sqltest.User(t, s, org, domain.RoleManager)
		lead := sqltest.Lead(t, s, sqltest.As(rep))
		created := lead.CreatedAt

		// An update built from scratch (no creation audit) keeps the stored one.
		fresh := &domain.Lead{Meta: domain.Meta{ID: lead.ID}, FirstName: "Renamed", Status: domain.LeadQualified}
		if err := s.Write(ctx, sqltest.As(mgr), func(tx domain.Tx) error { return tx.Update(fresh) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindRecord(ctx, org.ID, domain.KindLead, lead.ID)
		if err != nil {
			t.Fatal(err)
		}
		m := got.Base()
		if !m.CreatedAt.Equal(created) || m.CreatedBy != rep.ID || m.UpdatedBy != mgr.ID || !m.UpdatedAt.After(created) {
			t.Fatalf("audit after update: %+v (created %v)", m, created)
		}
		if !reflect.DeepEqual(got, fresh) {
			t.Fatalf("Update should save every field:\n got %+v\nwant %+v", got, fresh)
		}
	}, sqltest.WithClock(clock))
}

// An Update of a record read in the transaction rewrites only the columns
// that changed: a JSON column (a lead's score breakdown) only when its value
// did.
func TestUpdateRewritesOnlyChangedColumns(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		lead := sqltest.Lead(t, s, sqltest.As(rep), func(l *domain.Lead) {
			l.PropertyValue = 450000
			l.Rescore(org.Settings)
		})
		for _, tc := range []struct {
			name   string
			change func(*domain.Lead)
			want   []string
		}{
			{"nothing", func(*domain.Lead) {}, []string{}},
			{"notes", func(l *domain.Lead) { l.Notes = "side gate" }, []string{"notes"}},
			{"breakdown recomputed the same", func(l *domain.Lead) { l.Rescore(org.Settings) }, []string{}},
			{"a scoring input", func(l *domain.Lead) { l.PropertyValue = 650000; l.Rescore(org.Settings) },
				[]string{"property_value", "score", "score_breakdown"}},
		} {
			cols, err := sqlstore.ChangedColumns(ctx, s, sqltest.As(rep), domain.KindLead, lead.ID, func(r domain.Record) {
				tc.change(r.(*domain.Lead))
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cols, tc.want) {
				t.Errorf("%s: columns %v, want %v", tc.name, cols, tc.want)
			}
		}
	})
}

// An Update that changes nothing an anchor is made of keeps the row's scope
// without reading the parents again; one that moves the record to another
// parent works it out anew.
func TestUpdateReusesScopeWhenTheAnchorStays(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		tech := sqltest.User(t, s, org, domain.RoleFieldTech)
		other := sqltest.User(t, s, org, domain.RoleFieldTech)
		p := sqltest.System(org)
		first := sqltest.Project(t, s, p, func(pr *domain.Project) { pr.AssignedTech = tech.ID })
		second := sqltest.Project(t, s, p, func(pr *domain.Project) { pr.AssignedTech = other.ID })
		photo := sqltest.Photo(t, s, p, func(ph *domain.Photo) { ph.ProjectID = first.ID })

		// Count the reads of projects while a Write runs.
		var projectReads atomic.Int32
		db := sqlstore.DB(s)
		name := "count-project-reads-" + uuid.NewString()
		if err := db.Callback().Query().After("gorm:query").Register(name, func(tx *gorm.DB) {
			if tx.Statement.Table == "projects" {
				projectReads.Add(1)
			}
		}); err != nil {
			t.Fatal(err)
		}
		update := func(change func(*domain.Photo)) {
			t.Helper()
			projectReads.Store(0)
			err := s.Write(ctx, p, func(tx domain.Tx) error {
				rec, err := tx.Find(domain.KindPhoto, photo.ID)
				if err != nil {
					return err
				}
				change(rec.(*domain.Photo))
				return tx.Update(rec)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// The scope the photo's row holds, which pulls filter on.
		techOf := func() string {
			t.Helper()
			var tech string
			if err := db.Table("photos").Select("scope_project_tech").Where("id = ?", photo.ID).Scan(&tech).Error; err != nil {
				t.Fatal(err)
			}
			return tech
		}
		update(func(ph *domain.Photo) { ph.Caption = "north slope" })
		if n := projectReads.Load(); n != 0 {
			t.Errorf("a caption change read the project %d times", n)
		}
		if got := techOf(); got != tech.ID {
			t.Errorf("after a caption change the photo is anchored to %q, want %q", got, tech.ID)
		}
		update(func(ph *domain.Photo) { ph.ProjectID = second.ID })
		if n := projectReads.Load(); n == 0 {
			t.Error("moving the photo to another project did not read that project")
		}
		if got := techOf(); got != other.ID {
			t.Errorf("after the move the photo is anchored to %q, want %q", got, other.ID)
		}
	})
}

// stepClock advances a second on every reading, so each transaction has
// its own time.
type stepClock struct {
	mu  gosync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func TestRollbackLeavesNothing(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales, func(u *domain.User) { u.Email = "taken@example.test" })
		lead := sqltest.Lead(t, s, sqltest.As(rep))
		leadVersion := lead.Version
		seqBefore, _ := s.OrgSeq(ctx, org.ID)

		var created *domain.Lead
		write := func(t *testing.T, fn func(tx domain.Tx) error) error {
			created = &domain.Lead{FirstName: "Ghost"}
			return s.Write(ctx, sqltest.As(rep), func(tx domain.Tx) error {
				if err := tx.Create(created); err != nil {
					return err
				}
				lead.Notes = "changed"
				if err := tx.Update(lead); err != nil {
					return err
				}
				if err := tx.Enqueue(domain.OutboxMessage{Kind: "lead.alert", Payload: []byte(`{}`)}); err != nil {
					return err
				}
				return fn(tx)
			})
		}
		boom := errors.New("boom")
		cases := []struct {
			name string
			fn   func(tx domain.Tx) error
			want func(error) bool
		}{
			{"fn returns an error", func(domain.Tx) error { return boom },
				func(err error) bool { return errors.Is(err, boom) }},
			{"fn ignores a failed statement", func(tx domain.Tx) error {
				// A duplicate email fails in the database, not in a pre-check.
				_ = tx.Create(&domain.User{Email: "TAKEN@example.test", Role: domain.RoleSales})
				return nil
			}, func(err error) bool { return domain.IsCode(err, domain.CodeConflict) }},
			{"fn panics", nil, nil},
		}
		for _, c := range cases {
			if c.fn == nil {
				func() {
					defer func() {
						if recover() == nil {
							t.Error("panic was swallowed")
						}
					}()
					_ = write(t, func(domain.Tx) error { panic("in fn") })
				}()
			} else if err := write(t, c.fn); !c.want(err) {
				t.Errorf("%s: Write = %v", c.name, err)
			}
			if seq, _ := s.OrgSeq(ctx, org.ID); seq != seqBefore {
				t.Errorf("%s: seq moved from %d to %d", c.name, seqBefore, seq)
			}
			if ch, _ := s.ChangesSince(ctx, org.ID, seqBefore, 0); len(ch) != 0 {
				t.Errorf("%s: change rows left: %+v", c.name, ch)
			}
			if msgs, _ := s.ClaimOutbox(ctx, 10, time.Now().Add(time.Hour)); len(msgs) != 0 {
				t.Errorf("%s: outbox rows left: %+v", c.name, msgs)
			}
			if _, err := s.FindRecord(ctx, org.ID, domain.KindLead, created.ID); !domain.IsCode(err, domain.CodeNotFound) {
				t.Errorf("%s: created lead survived: %v", c.name, err)
			}
			got, _ := s.FindRecord(ctx, org.ID, domain.KindLead, lead.ID)
			if got.(*domain.Lead).Notes != "" || got.Base().Version != leadVersion {
				t.Errorf("%s: updated lead changed: %+v", c.name, got)
			}
		}
	})
}

func TestTxRejectsBadRecords(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		other := sqltest.Org(t, s)
		rep := sqltest.User(t, s, org, domain.RoleSales)
		p := sqltest.As(rep)
		lead := sqltest.Lead(t, s, p)
		foreign := sqltest.Lead(t, s, sqltest.System(other))

		try := func(fn func(tx domain.Tx) error) error {
			var inner error
			err := s.Write(ctx, p, func(tx domain.Tx) error {
				inner = fn(tx)
				return nil // the write path must not need fn to propagate
			})
			if err != nil {
				t.Fatalf("a pre-checked refusal must not doom the transaction: %v", err)
			}
			return inner
		}
		deleted := time.Now()
		for _, c := range []struct {
			name string
			fn   func(tx domain.Tx) error
			code domain.Code
		}{
			{"duplicate id", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Meta: domain.Meta{ID: lead.ID}})
			}, domain.CodeConflict},
			{"id taken in another organization", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Meta: domain.Meta{ID: foreign.ID}})
			}, domain.CodeConflict},
			{"invalid uuid", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Meta: domain.Meta{ID: "lead-1"}})
			}, domain.CodeInvalid},
			{"uppercase uuid", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Meta: domain.Meta{ID: "0198F1A2-0000-7000-8000-000000000001"}})
			}, domain.CodeInvalid},
			{"nil uuid", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Meta: domain.Meta{ID: uuid.Nil.String()}})
			}, domain.CodeInvalid},
			{"create in another organization", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Meta: domain.Meta{OrgID: other.ID}})
			}, domain.CodeNotFound},
			{"create a tombstone", func(tx domain.Tx) error {
				return tx.Create(&domain.Lead{Tombstone: domain.Tombstone{DeletedAt: &deleted}})
			}, domain.CodeInvalid},
			{"nil record", func(tx domain.Tx) error { return tx.Create((*domain.Lead)(nil)) }, domain.CodeInvalid},
			{"update missing", func(tx domain.Tx) error {
				return tx.Update(&domain.Lead{Meta: domain.Meta{ID: uuid.NewString()}})
			}, domain.CodeNotFound},
			{"update another organization's", func(tx domain.Tx) error {
				f := *foreign
				f.OrgID = ""
				return tx.Update(&f)
			}, domain.CodeNotFound},
			{"update naming another organization", func(tx domain.Tx) error { return tx.Update(foreign) }, domain.CodeNotFound},
			{"delete another organization's", func(tx domain.Tx) error {
				return tx.Delete(domain.KindLead, foreign.ID)
			}, domain.CodeNotFound},
			{"find another organization's", func(tx domain.Tx) error {
				_, err := tx.Find(domain.KindLead, foreign.ID)
				return err
			}, domain.CodeNotFound},
			{"find malformed id", func(tx domain.Tx) error {
				_, err := tx.Find(domain.KindLead, "x")
				return err
			}, domain.CodeNotFound},
			{"unknown kind", func(tx domain.Tx) error {
				_, err := tx.Find("spaceship", lead.ID)
				return err
			}, domain.CodeInvalid},
			{"enqueue without kind", func(tx domain.Tx) error {
				return tx.Enqueue(domain.OutboxMessage{})
			}, domain.CodeInvalid},
			{"enqueue for another organization", func(tx domain.Tx) error {
				return tx.Enqueue(domain.OutboxMessage{OrgID: other.ID, Kind: "x"})
			}, domain.CodeNotFound},
		} {
			sqltest.RequireCode(t, try(c.fn), c.code)
		}
		// Nothing above wrote anything, so no sequence number was used.
		if seq, _ := s.OrgSeq(ctx, org.ID); seq != lead.Version {
			t.Errorf("refused writes moved the sequence: %d, want %d", seq, lead.Version)
		}
		if got, err := s.FindRecord(ctx, other.ID, domain.KindLead, foreign.ID); err != nil || !reflect.DeepEqual(got, foreign) {
			t.Errorf("another organization's lead changed: %+v, %v", got, err)
		}

		// An empty id gets a fresh time-ordered UUID.
		l := sqltest.Lead(t, s, p)
		if u, err := uuid.Parse(l.ID); err != nil || u.Version() != 7 {
			t.Errorf("generated id %q", l.ID)
		}

		err := s.Write(ctx, domain.Principal{OrgID: uuid.NewString()}, func(domain.Tx) error { return nil })
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		err = s.Write(ctx, domain.Principal{}, func(domain.Tx) error { return nil })
		sqltest.RequireCode(t, err, domain.CodeInvalid)
	})
}

func TestTxIsDeadAfterWrite(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		var leaked domain.Tx
		if err := s.Write(ctx, sqltest.System(org), func(tx domain.Tx) error { leaked = tx; return nil }); err != nil {
			t.Fatal(err)
		}
		sqltest.RequireCode(t, leaked.Create(&domain.Lead{}), domain.CodeInternal)
	})
}

func TestSoftAndHardDelete(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		mgr := sqltest.User(t, s, org, domain.RoleManager)
		p := sqltest.As(mgr)
		lead := sqltest.Lead(t, s, p)
		alert := sqltest.Alert(t, s, p, func(a *domain.Alert) { a.LeadID = lead.ID })

		if err := s.Write(ctx, p, func(tx domain.Tx) error {
			if err := tx.Delete(domain.KindLead, lead.ID); err != nil {
				return err
			}
			return tx.Delete(domain.KindAlert, alert.ID)
		}); err != nil {
			t.Fatal(err)
		}
		seq, _ := s.OrgSeq(ctx, org.ID)

		_, err := s.FindRecord(ctx, org.ID, domain.KindLead, lead.ID)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		if leads, _ := s.ListLeads(ctx, domain.LeadFilter{OrgID: org.ID}); len(leads) != 0 {
			t.Errorf("ListLeads shows a tombstone: %+v", leads)
		}
		_, err = s.ResolveAnchor(ctx, org.ID, domain.KindLead, lead.ID)
		sqltest.RequireCode(t, err, domain.CodeNotFound)

		err = s.Write(ctx, p, func(tx domain.Tx) error {
			// The sync engine still sees the tombstone, with its new version.
			rec, err := tx.Find(domain.KindLead, lead.ID)
			if err != nil {
				return err
			}
			l := rec.(*domain.Lead)
			if l.DeletedAt == nil || l.Version != seq || l.UpdatedBy != mgr.ID || l.FirstName != lead.FirstName {
				t.Errorf("tombstone: %+v", l)
			}
			_, err = tx.Find(domain.KindAlert, alert.ID)
			sqltest.RequireCode(t, err, domain.CodeNotFound)
			// A tombstone cannot be updated or deleted again.
			l.DeletedAt = nil
			sqltest.RequireCode(t, tx.Update(l), domain.CodeNotFound)
			sqltest.RequireCode(t, tx.Delete(domain.KindLead, lead.ID), domain.CodeNotFound)
			sqltest.RequireCode(t, tx.Delete(domain.KindAlert, alert.ID), domain.CodeNotFound)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		changes, _ := s.ChangesSince(ctx, org.ID, seq-1, 0)
		ops := map[domain.EntityKind]domain.ChangeOp{}
		for _, c := range changes {
			ops[c.Kind] = c.Op
		}
		if len(changes) != 2 || ops[domain.KindLead] != domain.OpDelete || ops[domain.KindAlert] != domain.OpDelete {
			t.Errorf("delete changes: %+v", changes)
		}
	})
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		now := time.Now().UTC().Truncate(time.Microsecond)
		later := now.Add(10 * time.Minute)
		err := s.Write(ctx, sqltest.System(org), func(tx domain.Tx) error {
			for _, m := range []domain.OutboxMessage{
				{ID: "alert:1", Kind: "lead.alert", Payload: []byte(`{"lead":"1"}`)},
				{Kind: "campaign.touch", Payload: []byte{0, 1, 2}, AvailableAt: later},
				{Kind: "photo.process"},
			} {
				if err := tx.Enqueue(m); err != nil {
					return err
				}
			}
			// A deterministic id makes the side effect unique.
			sqltest.RequireCode(t, tx.Enqueue(domain.OutboxMessage{ID: "alert:1", Kind: "lead.alert"}), domain.CodeConflict)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.ClaimOutbox(ctx, 10, now.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].OrgID != org.ID {
			t.Fatalf("claimed %+v", msgs)
		}
		byKind := map[string]domain.OutboxMessage{}
		for _, m := range msgs {
			byKind[m.Kind] = m
		}
		if m := byKind["lead.alert"]; m.ID != "alert:1" || string(m.Payload) != `{"lead":"1"}` || m.CreatedAt.Location() != time.UTC {
			t.Errorf("alert message %+v", m)
		}
		if m := byKind["photo.process"]; len(m.Payload) != 0 || !validUUID(m.ID) {
			t.Errorf("photo message %+v", m)
		}
		// Claimed messages are leased: a second relay gets nothing now...
		if again, _ := s.ClaimOutbox(ctx, 10, now.Add(2*time.Second)); len(again) != 0 {
			t.Fatalf("claimed twice: %+v", again)
		}
		// ...and the unrelayed one again after the lease, with the delayed one.
		if err := s.MarkOutboxRelayed(ctx, []string{"alert:1"}, now); err != nil {
			t.Fatal(err)
		}
		msgs, _ = s.ClaimOutbox(ctx, 10, later.Add(sqlstore.OutboxClaimLease))
		kinds := []string{}
		for _, m := range msgs {
			kinds = append(kinds, m.Kind)
		}
		slices.Sort(kinds)
		if !slices.Equal(kinds, []string{"campaign.touch", "photo.process"}) {
			t.Fatalf("after lease: %v", kinds)
		}
		if m := msgs[slices.IndexFunc(msgs, func(m domain.OutboxMessage) bool { return m.Kind == "campaign.touch" })]; !m.AvailableAt.Equal(later) || string(m.Payload) != "\x00\x01\x02" {
			t.Errorf("delayed message %+v", m)
		}
		if err := s.MarkOutboxRelayed(ctx, nil, now); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConcurrentClaimsAreDisjoint(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		const n = 40
		err := s.Write(ctx, sqltest.System(org), func(tx domain.Tx) error {
			for range n {
				if err := tx.Enqueue(domain.OutboxMessage{Kind: "k"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var mu gosync.Mutex
		seen := map[string]int{}
		var wg gosync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					msgs, err := s.ClaimOutbox(ctx, 3, time.Now().Add(time.Second))
					if err != nil {
						t.Error(err)
						return
					}
					if len(msgs) == 0 {
						return
					}
					mu.Lock()
					for _, m := range msgs {
						seen[m.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d distinct messages, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("message %s claimed %d times", id, c)
			}
		}
	})
}

// TestConcurrentWriters is the "no missed change" guarantee at the storage
// level: many writers in one organization get sequence numbers 1..N with no
// gap and no duplicate, and every row's version matches its change row.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		p := sqltest.System(org)
		shared := sqltest.Lead(t, s, p) // seq 1
		const writers, txs = 16, 20
		// Half the writers use a second store on the same database, as
		// another server replica (or, for SQLite, another process) would.
		stores := []*sqlstore.Store{s, sqltest.Reopen(t, s)}
		var wg gosync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				st := stores[w%2]
				for i := range txs {
					err := st.Write(ctx, p, func(tx domain.Tx) error {
						// Every writer also bumps one shared counter, a
						// read-modify-write that must not lose updates.
						rec, err := tx.Find(domain.KindLead, shared.ID)
						if err != nil {
							return err
						}
						l := rec.(*domain.Lead)
						l.InteractionCount++
						if err := tx.Update(l); err != nil {
							return err
						}
						return tx.Create(&domain.Interaction{Subject: fmt.Sprintf("w%d-%d", w, i), OccurredAt: tx.Now()})
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		const total = 1 + writers*txs
		if seq, _ := s.OrgSeq(ctx, org.ID); seq != total {
			t.Fatalf("OrgSeq = %d, want %d", seq, total)
		}
		changes, err := s.ChangesSince(ctx, org.ID, 0, 10*total)
		if err != nil {
			t.Fatal(err)
		}
		perSeq := map[int64]int{}
		interactions := 0
		for _, c := range changes {
			perSeq[c.Seq]++
			if c.Kind == domain.KindInteraction {
				interactions++
				rec, err := s.FindRecord(ctx, org.ID, c.Kind, c.EntityID)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Base().Version != c.Seq {
					t.Errorf("interaction %s version %d, change seq %d", c.EntityID, rec.Base().Version, c.Seq)
				}
			}
		}
		for seq := int64(2); seq <= total; seq++ {
			if perSeq[seq] != 2 {
				t.Fatalf("seq %d has %d change rows, want 2 (lead + interaction)", seq, perSeq[seq])
			}
		}
		if interactions != writers*txs {
			t.Errorf("%d interactions logged, want %d", interactions, writers*txs)
		}
		got, _ := s.FindRecord(ctx, org.ID, domain.KindLead, shared.ID)
		if l := got.(*domain.Lead); l.InteractionCount != writers*txs || l.Version != total {
			t.Errorf("shared lead count %d version %d; want %d, %d", l.InteractionCount, l.Version, writers*txs, total)
		}
	})
}
