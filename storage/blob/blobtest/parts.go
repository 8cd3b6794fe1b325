package blobtest

import (
	"bytes"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
)

// PartsStore is a blob store that can also join parts (domain.PartStore).
type PartsStore interface {
	domain.BlobStore
	domain.PartStore
}

// RunPartsConformance holds an implementation of domain.PartStore to the
// contract every implementation shares.
func RunPartsConformance(t *testing.T, newStore func(t *testing.T) PartsStore) {
	t.Run("SmallPartsInOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		want := Payload(1, 3000)
		keys := []string{"up/a/0", "up/a/1", "up/a/2"}
		for i, k := range keys {
			chunk := want[i*1000 : (i+1)*1000]
			MustPut(t, s, k, bytes.NewReader(chunk), int64(len(chunk)), "application/octet-stream")
		}
		info, err := s.Compose(t.Context(), "final/a", keys, "image/jpeg")
		if err != nil {
			t.Fatalf("Compose: %v", err)
		}
		if info.Size != int64(len(want)) {
			t.Errorf("Compose size = %d, want %d", info.Size, len(want))
		}
		got, ginfo := MustGet(t, s, "final/a")
		RequireBytes(t, got, want)
		if ginfo.ContentType != "image/jpeg" {
			t.Errorf("content type = %q, want image/jpeg", ginfo.ContentType)
		}
		// The parts stay until the caller deletes them.
		MustStat(t, s, "up/a/0")
	})
	t.Run("LargePartsAndOnePart", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const part = 5<<20 + 7 // over S3's compose minimum: joined inside the store
		want := Payload(2, 2*part+11)
		keys := []string{"up/b/0", "up/b/1", "up/b/2"}
		for i, k := range keys {
			end := min((i+1)*part, len(want))
			chunk := want[i*part : end]
			MustPut(t, s, k, bytes.NewReader(chunk), int64(len(chunk)), "application/octet-stream")
		}
		if _, err := s.Compose(t.Context(), "final/b", keys, "image/png"); err != nil {
			t.Fatalf("Compose: %v", err)
		}
		got, _ := MustGet(t, s, "final/b")
		RequireBytes(t, got, want)
		if _, err := s.Compose(t.Context(), "final/b1", keys[2:], "image/png"); err != nil {
			t.Fatalf("Compose of one part: %v", err)
		}
		got, _ = MustGet(t, s, "final/b1")
		RequireBytes(t, got, want[2*part:])
	})
	t.Run("Refusals", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		MustPut(t, s, "up/c/0", bytes.NewReader([]byte("x")), 1, "application/octet-stream")
		_, err := s.Compose(t.Context(), "final/c", []string{"up/c/0", "up/c/missing"}, "image/jpeg")
		RequireCode(t, err, domain.CodeNotFound, "Compose with a missing part")
		_, err = s.Compose(t.Context(), "final/c", nil, "image/jpeg")
		RequireCode(t, err, domain.CodeInvalid, "Compose of no parts")
		_, err = s.Compose(t.Context(), "../final", []string{"up/c/0"}, "image/jpeg")
		RequireCode(t, err, domain.CodeInvalid, "Compose to a bad key")
		_, err = s.Stat(t.Context(), "final/c")
		RequireCode(t, err, domain.CodeNotFound, "Stat after a refused Compose")
	})
}

// MultipartStore is a blob store that can also take multipart uploads.
type MultipartStore interface {
	domain.BlobStore
	domain.MultipartStore
}

// RunMultipartConformance holds an implementation of domain.MultipartStore
// to the contract every implementation shares (parts at S3's minimum size,
// so MinIO accepts them).
func RunMultipartConformance(t *testing.T, newStore func(t *testing.T) MultipartStore) {
	t.Run("PartsBecomeTheObject", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		const part = domain.MinMultipartPart
		want := Payload(7, 2*part+1234)
		id, err := s.StartMultipart(ctx, "mp/a", "image/jpeg")
		if err != nil {
			t.Fatalf("StartMultipart: %v", err)
		}
		var parts []domain.MultipartPart
		for i, n := range []int{3, 700, 9000} { // ascending, not consecutive
			end := min((i+1)*part, len(want))
			p, err := s.PutPart(ctx, "mp/a", id, n, bytes.NewReader(want[i*part:end]), int64(end-i*part))
			if err != nil {
				t.Fatalf("PutPart %d: %v", n, err)
			}
			parts = append(parts, p)
		}
		// A part sent again replaces the first.
		again, err := s.PutPart(ctx, "mp/a", id, 700, bytes.NewReader(want[part:2*part]), part)
		if err != nil {
			t.Fatal(err)
		}
		parts[1] = again
		info, err := s.CompleteMultipart(ctx, "mp/a", id, parts)
		if err != nil {
			t.Fatalf("CompleteMultipart: %v", err)
		}
		got, ginfo := MustGet(t, s, "mp/a")
		RequireBytes(t, got, want)
		if info.Size != int64(len(want)) || ginfo.ContentType != "image/jpeg" {
			t.Errorf("object: %+v / %+v", info, ginfo)
		}
	})
	t.Run("AbortAndRefusals", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		id, err := s.StartMultipart(ctx, "mp/b", "image/jpeg")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutPart(ctx, "mp/b", id, 0, bytes.NewReader([]byte("x")), 1); !domain.IsCode(err, domain.CodeInvalid) {
			t.Errorf("part 0: %v", err)
		}
		p, err := s.PutPart(ctx, "mp/b", id, 1, bytes.NewReader([]byte("tiny")), 4)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.CompleteMultipart(ctx, "mp/b", id, nil)
		RequireCode(t, err, domain.CodeInvalid, "CompleteMultipart of no parts")
		if err := s.AbortMultipart(ctx, "mp/b", id); err != nil {
			t.Fatalf("AbortMultipart: %v", err)
		}
		_, err = s.CompleteMultipart(ctx, "mp/b", id, []domain.MultipartPart{p})
		RequireCode(t, err, domain.CodeInvalid, "CompleteMultipart after abort")
		_, err = s.Stat(ctx, "mp/b")
		RequireCode(t, err, domain.CodeNotFound, "Stat after abort")
		if err := s.AbortMultipart(ctx, "mp/b", id); err != nil {
			t.Errorf("second abort: %v", err)
		}
	})
}
