package sqlstore_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func TestUploadStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		org := sqltest.Org(t, s)
		other := sqltest.Org(t, s)
		now := time.Now().UTC().Truncate(time.Second)
		up := &domain.Upload{ID: uuid.NewString(), OrgID: org.ID, PhotoID: uuid.NewString(), UserID: uuid.NewString(),
			Length: 1000, SHA256: "ab", ExpiresAt: now.Add(time.Hour)}
		sqltest.RequireCode(t, s.CreateUpload(ctx, &domain.Upload{OrgID: org.ID}), domain.CodeInvalid)
		if err := s.CreateUpload(ctx, up); err != nil {
			t.Fatal(err)
		}
		_, err := s.FindUpload(ctx, other.ID, up.ID)
		sqltest.RequireCode(t, err, domain.CodeNotFound)

		up.Offset = 400
		up.Parts = []domain.UploadPart{{Key: "uploads/x/0", Offset: 0, Size: 400}}
		up.HashState = []byte{0, 1, 2, 255}
		up.MultipartID = "mp-1"
		up.Chunks = []domain.MultipartPart{{Number: 1, ETag: "e1", Size: 300}}
		up.Content = domain.ContentJPEG
		up.ScanState = []byte{1, 2, 0, 9}
		if err := s.AdvanceUpload(ctx, up, 0); err != nil {
			t.Fatal(err)
		}
		// A second request that started from the same offset loses.
		stale := *up
		stale.Offset = 300
		sqltest.RequireCode(t, s.AdvanceUpload(ctx, &stale, 0), domain.CodeOffsetMismatch)
		got, err := s.FindUpload(ctx, org.ID, up.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Offset != 400 || len(got.Parts) != 1 || got.Parts[0] != up.Parts[0] || string(got.HashState) != string(up.HashState) ||
			got.Content != domain.ContentJPEG || got.Complete || !got.ExpiresAt.Equal(up.ExpiresAt) ||
			got.MultipartID != "mp-1" || len(got.Chunks) != 1 || got.Chunks[0] != up.Chunks[0] || string(got.ScanState) != string(up.ScanState) {
			t.Fatalf("stored upload: %+v", got)
		}
		n, err := s.UploadBytesInFlight(ctx, org.ID)
		if err != nil || n != 1000 {
			t.Fatalf("in flight: %d %v", n, err)
		}
		if err := s.CompleteUpload(ctx, org.ID, up.ID); err != nil {
			t.Fatal(err)
		}
		sqltest.RequireCode(t, s.AdvanceUpload(ctx, up, 400), domain.CodeOffsetMismatch)
		if n, _ := s.UploadBytesInFlight(ctx, org.ID); n != 0 {
			t.Errorf("in flight after completion: %d", n)
		}

		// One request that receives a whole upload advances and completes it
		// in one statement; a request that raced it finds it complete.
		whole := &domain.Upload{ID: uuid.NewString(), OrgID: org.ID, PhotoID: uuid.NewString(), UserID: uuid.NewString(),
			Length: 700, SHA256: "ef", ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateUpload(ctx, whole); err != nil {
			t.Fatal(err)
		}
		whole.Offset, whole.HashState, whole.ScanState, whole.Content = 700, []byte{7}, []byte{8}, domain.ContentPNG
		sqltest.RequireCode(t, s.AdvanceAndComplete(ctx, whole, 5), domain.CodeOffsetMismatch)
		if err := s.AdvanceAndComplete(ctx, whole, 0); err != nil || !whole.Complete {
			t.Fatalf("AdvanceAndComplete: %v (complete %v)", err, whole.Complete)
		}
		if err := s.AdvanceAndComplete(ctx, whole, 0); err != nil {
			t.Errorf("AdvanceAndComplete of a complete upload: %v", err)
		}
		got, err = s.FindUpload(ctx, org.ID, whole.ID)
		if err != nil || !got.Complete || got.Offset != 700 || got.Content != domain.ContentPNG || string(got.ScanState) != "\x08" {
			t.Fatalf("completed upload: %+v %v", got, err)
		}
		missing := *whole
		missing.ID = uuid.NewString()
		sqltest.RequireCode(t, s.AdvanceAndComplete(ctx, &missing, 0), domain.CodeNotFound)
		if err := s.DeleteUpload(ctx, org.ID, whole.ID); err != nil {
			t.Fatal(err)
		}

		old := &domain.Upload{ID: uuid.NewString(), OrgID: other.ID, PhotoID: uuid.NewString(), UserID: "u",
			Length: 5, SHA256: "cd", ExpiresAt: now.Add(-time.Minute)}
		if err := s.CreateUpload(ctx, old); err != nil {
			t.Fatal(err)
		}
		exp, err := s.ExpiredUploads(ctx, now, time.Hour, 10)
		if err != nil || len(exp) != 1 || exp[0].ID != old.ID {
			t.Fatalf("expired: %+v %v", exp, err)
		}
		// A completed upload goes once it is older than keep.
		exp, err = s.ExpiredUploads(ctx, now.Add(2*time.Hour), time.Hour, 10)
		if err != nil || len(exp) != 2 {
			t.Fatalf("expired later: %d %v", len(exp), err)
		}
		if err := s.DeleteUpload(ctx, org.ID, up.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindUpload(ctx, org.ID, up.ID)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		sqltest.RequireCode(t, s.CompleteUpload(ctx, org.ID, up.ID), domain.CodeNotFound)
	})
}

func TestPhotoQueries(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		org := sqltest.Org(t, s)
		sys := sqltest.System(org)
		cust := sqltest.Customer(t, s, sys)
		pr := sqltest.Project(t, s, sys, func(p *domain.Project) { p.CustomerID = cust.ID })
		hash := "aa00000000000000000000000000000000000000000000000000000000000000"
		t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		later := sqltest.Photo(t, s, sys, func(p *domain.Photo) { p.ProjectID, p.SHA256, p.TakenAt = pr.ID, hash, t0.Add(time.Minute) })
		first := sqltest.Photo(t, s, sys, func(p *domain.Photo) { p.ProjectID, p.SHA256, p.TakenAt = pr.ID, "bb", t0 })
		got, err := s.ProjectPhotos(ctx, org.ID, pr.ID)
		if err != nil || len(got) != 2 || got[0].ID != first.ID || got[1].ID != later.ID {
			t.Fatalf("project photos: %v %v", got, err)
		}
		if in, err := s.PhotoHashInUse(ctx, org.ID, hash); err != nil || !in {
			t.Fatalf("hash in use: %v %v", in, err)
		}
		if err := s.Write(ctx, sys, func(tx domain.Tx) error { return tx.Delete(domain.KindPhoto, later.ID) }); err != nil {
			t.Fatal(err)
		}
		if in, err := s.PhotoHashInUse(ctx, org.ID, hash); err != nil || in {
			t.Fatalf("hash of a deleted photo in use: %v %v", in, err)
		}
		if ps, err := s.PhotosWithHash(ctx, org.ID, "bb"); err != nil || len(ps) != 1 {
			t.Fatalf("photos with hash: %v %v", ps, err)
		}
	})
}

// An upload finished through the write transaction's TxUploads commits and
// rolls back with that transaction.
func TestUploadFinishedInTheWriteTransaction(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		org := sqltest.Org(t, s)
		p := domain.Principal{OrgID: org.ID, Role: domain.RoleAdmin}
		newUpload := func() *domain.Upload {
			up := &domain.Upload{ID: uuid.NewString(), OrgID: org.ID, PhotoID: uuid.NewString(), UserID: uuid.NewString(),
				Length: 10, SHA256: "ab", ExpiresAt: time.Now().Add(time.Hour)}
			if err := s.CreateUpload(ctx, up); err != nil {
				t.Fatal(err)
			}
			return up
		}
		finish := func(up *domain.Upload, fail error) error {
			return s.Write(ctx, p, func(tx domain.Tx) error {
				up.Offset = up.Length
				if err := tx.(domain.UploadTx).TxUploads().AdvanceAndComplete(ctx, up, 0); err != nil {
					return err
				}
				return fail
			})
		}
		complete := func(up *domain.Upload) bool {
			got, err := s.FindUpload(ctx, org.ID, up.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Complete
		}

		rolledBack := newUpload()
		boom := domain.Errorf(domain.CodeConflict, "the rest of the transaction failed")
		sqltest.RequireCode(t, finish(rolledBack, boom), domain.CodeConflict)
		if complete(rolledBack) {
			t.Fatal("an upload finished in a transaction that rolled back is complete")
		}
		committed := newUpload()
		if err := finish(committed, nil); err != nil {
			t.Fatal(err)
		}
		if !complete(committed) {
			t.Fatal("an upload finished in a committed transaction is not complete")
		}
		// CompleteUpload likewise, and a lost compare-and-set is an error
		// of the transaction.
		other := newUpload()
		err := s.Write(ctx, p, func(tx domain.Tx) error {
			return tx.(domain.UploadTx).TxUploads().CompleteUpload(ctx, org.ID, other.ID)
		})
		if err != nil || !complete(other) {
			t.Fatalf("CompleteUpload in a transaction: %v", err)
		}
		moved := newUpload()
		err = s.Write(ctx, p, func(tx domain.Tx) error {
			moved.Offset = moved.Length
			return tx.(domain.UploadTx).TxUploads().AdvanceAndComplete(ctx, moved, 5)
		})
		sqltest.RequireCode(t, err, domain.CodeOffsetMismatch)
	})
}
