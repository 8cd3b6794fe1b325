package blob_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/blob/blobtest"
)

// PutVerified keeps bytes that hash to the given sha256 and refuses any
// others, leaving what was stored under the key as it was.
func TestPutVerified(t *testing.T) {
	for name, newStore := range map[string]func(t *testing.T) blobtest.MultipartStore{
		"dir":   func(t *testing.T) blobtest.MultipartStore { return newDir(t, t.TempDir()) },
		"minio": func(t *testing.T) blobtest.MultipartStore { return newMinIO(t, minioConfig(t, newBucketName())) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := t.Context()
			want := blobtest.Payload(21, 3<<20+17)
			sum := sha256.Sum256(want)
			hexSum := hex.EncodeToString(sum[:])
			info, err := s.PutVerified(ctx, "photos/o/original", bytes.NewReader(want), int64(len(want)), "image/jpeg", hexSum)
			if err != nil {
				t.Fatalf("PutVerified: %v", err)
			}
			if info.Size != int64(len(want)) || info.ContentType != "image/jpeg" {
				t.Errorf("info %+v", info)
			}
			got, ginfo := blobtest.MustGet(t, s, "photos/o/original")
			blobtest.RequireBytes(t, got, want)
			if ginfo.ContentType != "image/jpeg" {
				t.Errorf("stored content type %q", ginfo.ContentType)
			}

			other := blobtest.Payload(22, len(want))
			_, err = s.PutVerified(ctx, "photos/o/original", bytes.NewReader(other), int64(len(other)), "image/jpeg", hexSum)
			blobtest.RequireCode(t, err, domain.CodeContentMismatch, "PutVerified of other bytes")
			got, _ = blobtest.MustGet(t, s, "photos/o/original")
			blobtest.RequireBytes(t, got, want)
			_, err = s.PutVerified(ctx, "photos/o/new", bytes.NewReader(other), int64(len(other)), "image/jpeg", hexSum)
			blobtest.RequireCode(t, err, domain.CodeContentMismatch, "PutVerified of other bytes to a new key")
			if _, err := s.Stat(ctx, "photos/o/new"); !domain.IsCode(err, domain.CodeNotFound) {
				t.Errorf("refused bytes were stored (stat: %v)", err)
			}

			for _, bad := range []string{"", strings.ToUpper(hexSum), hexSum[:63], hexSum + "0"} {
				_, err = s.PutVerified(ctx, "photos/o/x", bytes.NewReader(want), int64(len(want)), "image/jpeg", bad)
				blobtest.RequireCode(t, err, domain.CodeInvalid, "PutVerified with sha256 %q", bad)
			}
			_, err = s.PutVerified(ctx, "photos/o/x", bytes.NewReader(want), -1, "image/jpeg", hexSum)
			blobtest.RequireCode(t, err, domain.CodeInvalid, "PutVerified of unknown size")
			_, err = s.PutVerified(ctx, "photos/o/x", bytes.NewReader(want[:100]), int64(len(want)), "image/jpeg", hexSum)
			if err == nil {
				t.Error("PutVerified of a short body succeeded")
			}
			if parts := blobtest.ListAll(t, s, "photos/o/x"); len(parts) != 0 {
				t.Errorf("objects left by refused puts: %v", blobtest.Keys(parts))
			}
		})
	}
}
