package sync

import (
	"errors"

	"github.com/iswitchroofs/fieldsync/domain"
)

// MaxPhotoBytes bounds a photo's declared size (the upload enforces it too).
const MaxPhotoBytes = 50 << 20

var (
	photoCreateFields = []string{
		"project_id", "appointment_id", "kind", "caption", "taken_at", "latitude", "longitude",
		"sha256", "byte_size", "content_type", "width", "height",
	}
	photoUpdateFields = []string{"kind", "caption", "taken_at", "latitude", "longitude"}
	photoContentTypes = []string{"image/jpeg", "image/png", "image/heic", "image/heif", "image/webp"}
)

func photoMutations() []*mutationDef {
	return []*mutationDef{{
		info: MutationInfo{
			Name: "photo.create",
			Summary: "Record a job photo's metadata (the bytes follow by the resumable upload, keyed by sha256). " +
				"project_id is required (visible, not deleted); appointment_id, if given, must be an appointment of that " +
				"project. taken_by is the user; upload_state and processing_state start pending. latitude (-90..90) and " +
				"longitude (-180..180) come together or not at all; sha256 is 64 lowercase hex digits; byte_size is " +
				"1 byte to 50 MiB; content_type is image/jpeg, image/png, image/heic, image/heif or image/webp.",
			Args: append([]ArgInfo{{Name: "id", Type: "string (UUID)", Required: true}},
				fieldArgs(domain.KindPhoto, photoCreateFields,
					[]string{"project_id", "kind", "taken_at", "sha256", "byte_size", "content_type"})...),
			Rejections: []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden,
				RejectRecordDeleted, RejectAlreadyExists},
			Echo: "always (taken_by = the user and the pending states are the client's defaults too)",
		},
		apply: photoCreate,
	}, {
		info: MutationInfo{
			Name:       "photo.update",
			Summary:    "Change a photo's kind, caption, taken_at or position (field-level merge against base_version).",
			Args:       updateArgInfo(),
			Fields:     fieldArgs(domain.KindPhoto, photoUpdateFields, nil),
			Rejections: []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden, RejectRecordDeleted},
			Echo:       "when base_version is current and nothing conflicted",
		},
		apply: func(m *mut) error { return m.applyUpdate(photoUpdateSpec) },
	}, {
		info: MutationInfo{
			Name: "photo.delete",
			Summary: "Delete a photo (a tombstone reaches every device that has it). Field techs delete only photos " +
				"they took. Deleting a deleted photo is a no-op.",
			Args:       []ArgInfo{{Name: "id", Type: "string (UUID)", Required: true}},
			Rejections: []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden},
			Echo:       "not applicable: deletes are always sent as op delete",
		},
		apply: photoDelete,
	}}
}

var photoUpdateSpec = updateSpec{
	kind:   domain.KindPhoto,
	fields: photoUpdateFields,
	validate: func(_ *mut, rec domain.Record, changed func(string) bool) error {
		return checkPhoto(rec.(*domain.Photo), changed)
	},
}

// checkPhoto checks a photo's metadata (only the changed fields, if
// changed is set).
func checkPhoto(p *domain.Photo, changed func(string) bool) error {
	c := checker{changed: changed}
	c.lengths(p)
	if p.ProjectID == "" {
		c.add("project_id", "is required")
	}
	c.oneOf("kind", string(p.Kind), string(domain.PhotoBefore), string(domain.PhotoDuring), string(domain.PhotoAfter))
	if p.TakenAt.IsZero() {
		c.add("taken_at", "is required")
	}
	switch {
	case (p.Latitude == nil) != (p.Longitude == nil):
		c.addFor([]string{"latitude", "longitude"}, "latitude", "latitude and longitude come together")
	case p.Latitude != nil && (*p.Latitude < -90 || *p.Latitude > 90):
		c.add("latitude", "must be between -90 and 90")
	case p.Longitude != nil && (*p.Longitude < -180 || *p.Longitude > 180):
		c.add("longitude", "must be between -180 and 180")
	}
	if !isSHA256(p.SHA256) {
		c.add("sha256", "must be 64 lowercase hex digits")
	}
	if p.ByteSize <= 0 || p.ByteSize > MaxPhotoBytes {
		c.add("byte_size", "must be between 1 and %d", MaxPhotoBytes)
	}
	c.oneOf("content_type", p.ContentType, photoContentTypes...)
	c.nonNegative("width", int64(p.Width))
	c.nonNegative("height", int64(p.Height))
	return c.err()
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

func photoCreate(m *mut) error {
	rec, err := m.decodeRecord(domain.KindPhoto, photoCreateFields)
	if err != nil {
		return err
	}
	ph := rec.(*domain.Photo)
	ph.TakenBy = m.p.UserID
	ph.UploadState = domain.UploadPending
	ph.ProcessingState = domain.ProcessingPending
	if err := checkPhoto(ph, nil); err != nil {
		return err
	}
	if _, err := m.parent(domain.KindProject, ph.ProjectID, "project_id"); err != nil {
		return err
	}
	if ph.AppointmentID != "" {
		ap, err := m.parent(domain.KindAppointment, ph.AppointmentID, "appointment_id")
		if err != nil {
			return err
		}
		if ap.(*domain.Appointment).ProjectID != ph.ProjectID {
			return fieldError("appointment_id", "must be an appointment of the photo's project")
		}
	}
	anchor, err := m.anchorOf(ph)
	if err != nil {
		return err
	}
	if err := m.authorize(domain.ActionCreate, anchor); err != nil {
		return err
	}
	return m.create(ph, content(ph))
}

// idArgs are the arguments of a mutation that names just a record.
type idArgs struct {
	ID string `json:"id" sync:"required"`
}

func photoDelete(m *mut) error {
	var a idArgs
	if err := m.decodeArgs(&a); err != nil {
		return err
	}
	_, _, err := m.find(domain.KindPhoto, a.ID, domain.ActionDelete)
	var r *rejection
	if errors.As(err, &r) && r.code == RejectRecordDeleted {
		return nil // already deleted: the device's wish holds
	}
	if err != nil {
		return err
	}
	m.origin(false)
	return m.tx.Delete(domain.KindPhoto, a.ID)
}
