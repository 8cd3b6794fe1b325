package sqlstore

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

var (
	_ domain.UploadStore = (*Store)(nil)
	_ domain.PhotoStore  = (*Store)(nil)
	_ domain.UploadTx    = (*writeTx)(nil)
)

// uploadRow is the uploads table's row; parts are JSON so that a part list
// of any length is one column on both dialects.
type uploadRow struct {
	ID        string
	OrgID     string
	PhotoID   string
	UserID    string
	Length    int64
	Offset    int64 `gorm:"column:offset"`
	SHA256    string
	Parts     string
	HashState []byte
	Content   string
	Complete  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

func (uploadRow) TableName() string { return "uploads" }

func (r *uploadRow) upload() (*domain.Upload, error) {
	u := &domain.Upload{
		ID: r.ID, OrgID: r.OrgID, PhotoID: r.PhotoID, UserID: r.UserID, Length: r.Length, Offset: r.Offset,
		SHA256: r.SHA256, HashState: r.HashState, Content: r.Content, Complete: r.Complete,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
	}
	var ps uploadParts
	if strings.HasPrefix(r.Parts, "[") { // the column's default: no parts yet
		if err := json.Unmarshal([]byte(r.Parts), &ps.Tail); err != nil {
			return nil, err
		}
	} else if err := json.Unmarshal([]byte(r.Parts), &ps); err != nil {
		return nil, err
	}
	u.MultipartID, u.Chunks, u.Parts, u.ScanState = ps.MultipartID, ps.Chunks, ps.Tail, ps.Scan
	return u, nil
}

// uploadParts is the parts column: where the upload's bytes are (the
// multipart upload's parts, then the tail objects after them), and the
// image scan's state, which moves on with them.
type uploadParts struct {
	MultipartID string                 `json:"mp,omitempty"`
	Chunks      []domain.MultipartPart `json:"chunks,omitempty"`
	Tail        []domain.UploadPart    `json:"tail"`
	Scan        []byte                 `json:"scan,omitempty"`
}

func partsJSON(u *domain.Upload) string {
	ps := uploadParts{MultipartID: u.MultipartID, Chunks: u.Chunks, Tail: u.Parts, Scan: u.ScanState}
	if ps.Tail == nil {
		ps.Tail = []domain.UploadPart{}
	}
	b, _ := json.Marshal(ps) // plain structs: cannot fail
	return string(b)
}

// CreateUpload implements domain.UploadStore.
func (s *Store) CreateUpload(ctx context.Context, u *domain.Upload) error {
	const op = "create upload"
	var bad []domain.FieldError
	for _, f := range []struct{ name, value string }{
		{"id", u.ID}, {"org_id", u.OrgID}, {"photo_id", u.PhotoID}, {"user_id", u.UserID}, {"sha256", u.SHA256},
	} {
		if f.value == "" {
			bad = append(bad, domain.FieldError{Field: f.name, Message: "is required"})
		}
	}
	if u.Length <= 0 {
		bad = append(bad, domain.FieldError{Field: "length", Message: "must be positive"})
	}
	if u.ExpiresAt.IsZero() {
		bad = append(bad, domain.FieldError{Field: "expires_at", Message: "is required"})
	}
	if len(bad) > 0 {
		return opError(op, domain.Invalid(bad...))
	}
	now := s.now()
	u.CreatedAt, u.UpdatedAt = now, now
	row := uploadRow{
		ID: u.ID, OrgID: u.OrgID, PhotoID: u.PhotoID, UserID: u.UserID, Length: u.Length, Offset: u.Offset,
		SHA256: u.SHA256, Parts: partsJSON(u), HashState: u.HashState, Content: u.Content, Complete: u.Complete,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: u.ExpiresAt.UTC().Truncate(time.Microsecond),
	}
	return s.translate(op, s.conn(ctx).Create(&row).Error)
}

// FindUpload implements domain.UploadStore.
func (s *Store) FindUpload(ctx context.Context, orgID, id string) (*domain.Upload, error) {
	const op = "find upload"
	var rows []uploadRow
	if err := s.uploadsConn(ctx).Where("org_id = ? AND id = ?", orgID, id).Limit(1).Find(&rows).Error; err != nil {
		return nil, s.translate(op, err)
	}
	if len(rows) == 0 {
		return nil, opError(op, domain.ErrNotFound("upload"))
	}
	u, err := rows[0].upload()
	if err != nil {
		return nil, s.translate(op, err)
	}
	return u, nil
}

// AdvanceUpload implements domain.UploadStore with a compare-and-set on the
// offset, so no lock is held while the bytes travel.
func (s *Store) AdvanceUpload(ctx context.Context, u *domain.Upload, from int64) error {
	const op = "advance upload"
	cur, err := s.advanceUpload(ctx, op, u, from, map[string]any{
		"expires_at": u.ExpiresAt.UTC().Truncate(time.Microsecond),
	})
	if err != nil || cur == nil {
		return err
	}
	return opError(op, movedOn())
}

// AdvanceAndComplete implements domain.UploadStore with the compare-and-set
// of AdvanceUpload. An upload another request completed meanwhile is not an
// error.
func (s *Store) AdvanceAndComplete(ctx context.Context, u *domain.Upload, from int64) error {
	const op = "advance and complete upload"
	cur, err := s.advanceUpload(ctx, op, u, from, map[string]any{"complete": true})
	switch {
	case err != nil:
		return err
	case cur == nil || cur.Complete:
		u.Complete = true
		return nil
	}
	return opError(op, movedOn())
}

// advanceUpload stores u's progress (and the extra columns) if the upload
// is still unfinished at offset from. If it was not, it returns the upload
// as stored (CodeNotFound if there is none); nil means u was stored.
func (s *Store) advanceUpload(ctx context.Context, op string, u *domain.Upload, from int64, extra map[string]any) (*domain.Upload, error) {
	now := s.now()
	cols := map[string]any{
		"offset": u.Offset, "parts": partsJSON(u), "hash_state": u.HashState, "content": u.Content, "updated_at": now,
	}
	maps.Copy(cols, extra)
	res := s.uploadsConn(ctx).Model(&uploadRow{}).
		Where("org_id = ? AND id = ? AND \"offset\" = ? AND complete = ?", u.OrgID, u.ID, from, false).
		Updates(cols)
	if res.Error != nil {
		return nil, s.translate(op, res.Error)
	}
	if res.RowsAffected == 1 {
		u.UpdatedAt = now
		return nil, nil
	}
	return s.FindUpload(ctx, u.OrgID, u.ID)
}

// movedOn is the conflict of a request that lost the compare-and-set.
func movedOn() *domain.Error {
	return domain.Errorf(domain.CodeOffsetMismatch,
		"another request moved this upload on; ask for its offset (HEAD) and resume from there")
}

// CompleteUpload implements domain.UploadStore.
func (s *Store) CompleteUpload(ctx context.Context, orgID, id string) error {
	const op = "complete upload"
	res := s.uploadsConn(ctx).Model(&uploadRow{}).Where("org_id = ? AND id = ?", orgID, id).
		Updates(map[string]any{"complete": true, "updated_at": s.now()})
	if res.Error != nil {
		return s.translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return opError(op, domain.ErrNotFound("upload"))
	}
	return nil
}

// DeleteUpload implements domain.UploadStore.
func (s *Store) DeleteUpload(ctx context.Context, orgID, id string) error {
	return s.translate("delete upload", s.conn(ctx).Where("org_id = ? AND id = ?", orgID, id).Delete(&uploadRow{}).Error)
}

// UploadBytesInFlight implements domain.UploadStore.
func (s *Store) UploadBytesInFlight(ctx context.Context, orgID string) (int64, error) {
	var total int64
	err := s.conn(ctx).Model(&uploadRow{}).Where("org_id = ? AND complete = ?", orgID, false).
		Select("COALESCE(SUM(length), 0)").Scan(&total).Error
	return total, s.translate("uploads in flight", err)
}

// ExpiredUploads implements domain.UploadStore.
func (s *Store) ExpiredUploads(ctx context.Context, now time.Time, keep time.Duration, limit int) ([]*domain.Upload, error) {
	const op = "expired uploads"
	var rows []uploadRow
	err := s.conn(ctx).
		Where("(complete = ? AND expires_at < ?) OR (complete = ? AND updated_at < ?)",
			false, now.UTC(), true, now.Add(-keep).UTC()).
		Order("expires_at").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, s.translate(op, err)
	}
	out := make([]*domain.Upload, 0, len(rows))
	for i := range rows {
		u, err := rows[i].upload()
		if err != nil {
			return nil, s.translate(op, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// ProjectPhotos implements domain.PhotoStore.
func (s *Store) ProjectPhotos(ctx context.Context, orgID, projectID string) ([]*domain.Photo, error) {
	var out []*domain.Photo
	err := s.conn(ctx).Where("org_id = ? AND project_id = ? AND deleted_at IS NULL", orgID, projectID).
		Order("taken_at, id").Find(&out).Error
	return out, s.translate("project photos", err)
}

// PhotoHashInUse implements domain.PhotoStore.
func (s *Store) PhotoHashInUse(ctx context.Context, orgID, sha256hex string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&domain.Photo{}).
		Where("org_id = ? AND sha256 = ? AND deleted_at IS NULL", orgID, sha256hex).Count(&n).Error
	return n > 0, s.translate("photo hash in use", err)
}

// PhotosWithHash implements domain.PhotoStore.
func (s *Store) PhotosWithHash(ctx context.Context, orgID, sha256hex string) ([]*domain.Photo, error) {
	var out []*domain.Photo
	err := s.conn(ctx).Where("org_id = ? AND sha256 = ? AND deleted_at IS NULL", orgID, sha256hex).
		Order("id").Find(&out).Error
	return out, s.translate("photos with hash", err)
}

// txUploadsKey carries a write transaction's handle in the context of the
// upload statements TxUploads runs.
type txUploadsKey struct{}

// uploadsConn is the handle the upload statements run on: the write
// transaction's when they come through TxUploads, the pool's otherwise.
func (s *Store) uploadsConn(ctx context.Context) *gorm.DB {
	if db, ok := ctx.Value(txUploadsKey{}).(*gorm.DB); ok {
		return db.WithContext(ctx)
	}
	return s.conn(ctx)
}

// txUploads finishes uploads in a write transaction (domain.UploadTx).
type txUploads struct{ t *writeTx }

// TxUploads implements domain.UploadTx.
func (t *writeTx) TxUploads() domain.UploadFinisher { return txUploads{t} }

func (u txUploads) in(ctx context.Context) context.Context {
	return context.WithValue(ctx, txUploadsKey{}, u.t.db)
}

// CompleteUpload implements domain.UploadFinisher in the transaction.
func (u txUploads) CompleteUpload(ctx context.Context, orgID, id string) error {
	if err := u.t.usable("complete upload"); err != nil {
		return err
	}
	return u.t.s.CompleteUpload(u.in(ctx), orgID, id)
}

// AdvanceAndComplete implements domain.UploadFinisher in the transaction.
func (u txUploads) AdvanceAndComplete(ctx context.Context, up *domain.Upload, from int64) error {
	if err := u.t.usable("advance and complete upload"); err != nil {
		return err
	}
	return u.t.s.AdvanceAndComplete(u.in(ctx), up, from)
}
