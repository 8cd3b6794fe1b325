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
