package sqlstore

import (
	"reflect"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// entity is what the store knows about one kind: how to make an empty
// record of it and which table holds it (GORM's default name for the struct).
type entity struct {
	new   func() domain.Record
	table string
}

// entities is the kind registry that lets generic code (Find, Delete,
// ResolveAnchor, the sync engine's pulls) work for every kind. A test checks
// it covers domain.EntityKinds and that each table matches its struct.
var entities = map[domain.EntityKind]entity{
	domain.KindUser:               {func() domain.Record { return new(domain.User) }, "users"},
	domain.KindDevice:             {func() domain.Record { return new(domain.Device) }, "devices"},
	domain.KindLead:               {func() domain.Record { return new(domain.Lead) }, "leads"},
	domain.KindCustomer:           {func() domain.Record { return new(domain.Customer) }, "customers"},
	domain.KindProject:            {func() domain.Record { return new(domain.Project) }, "projects"},
	domain.KindInteraction:        {func() domain.Record { return new(domain.Interaction) }, "interactions"},
	domain.KindAppointment:        {func() domain.Record { return new(domain.Appointment) }, "appointments"},
	domain.KindPhoto:              {func() domain.Record { return new(domain.Photo) }, "photos"},
	domain.KindReview:             {func() domain.Record { return new(domain.Review) }, "reviews"},
	domain.KindPartner:            {func() domain.Record { return new(domain.Partner) }, "partners"},
	domain.KindReferral:           {func() domain.Record { return new(domain.Referral) }, "referrals"},
	domain.KindAlert:              {func() domain.Record { return new(domain.Alert) }, "alerts"},
	domain.KindCampaignEnrollment: {func() domain.Record { return new(domain.CampaignEnrollment) }, "campaign_enrollments"},
	domain.KindCampaignTouch:      {func() domain.Record { return new(domain.CampaignTouch) }, "campaign_touches"},
	domain.KindNotification:       {func() domain.Record { return new(domain.Notification) }, "notifications"},
}

// lookup returns the registry entry of kind, or CodeInvalid for a kind this
// store has no table for.
func lookup(kind domain.EntityKind) (entity, error) {
	e, ok := entities[kind]
	if !ok {
		return entity{}, domain.Errorf(domain.CodeInvalid, "unknown record kind %q", kind)
	}
	return e, nil
}

// newRecord returns an empty record of kind, or nil for an unknown kind.
func newRecord(kind domain.EntityKind) domain.Record {
	if e, ok := entities[kind]; ok {
		return e.new()
	}
	return nil
}

// softDeletable reports whether kind's rows are tombstoned rather than removed.
func softDeletable(kind domain.EntityKind) bool {
	_, ok := newRecord(kind).(domain.SoftDeletable)
	return ok
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	timePtrType = reflect.TypeFor[*time.Time]()
)

// normalizeTimes rewrites every time.Time and *time.Time field of the
// struct v points to as UTC at microsecond precision: PostgreSQL keeps
// microseconds and returns local times, SQLite keeps what it is given, and a
// record must read back equal to what was written on both. Pointers are
// replaced, never written through, so values the caller shares stay intact.
func normalizeTimes(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return
	}
	normalizeStruct(rv.Elem())
}

func normalizeStruct(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Type() {
		case timeType:
			f.Set(reflect.ValueOf(normalTime(f.Interface().(time.Time))))
		case timePtrType:
			if !f.IsNil() {
				t := normalTime(*f.Interface().(*time.Time))
				f.Set(reflect.ValueOf(&t))
			}
		default:
			if f.Kind() == reflect.Struct {
				normalizeStruct(f)
			}
		}
	}
}

// normalTime is t as every database round-trips it. The zero time stays
// zero (UTC) so "unset" survives.
func normalTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
