package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/iswitchroofs/fieldsync/domain"
)

func checkSHA256(sha256hex string) error {
	if len(sha256hex) != 2*sha256.Size {
		return invalid("sha256", "must be 64 lowercase hex digits")
	}
	for i := 0; i < len(sha256hex); i++ {
		if c := sha256hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return invalid("sha256", "must be 64 lowercase hex digits")
		}
	}
	return nil
}

func hashMismatch(op string, err error) error {
	return wrap(domain.CodeContentMismatch, op, err, "the bytes do not hash to the given sha256")
}

// PutVerified implements domain.MultipartStore. The hash travels as the
// request's signed X-Amz-Content-Sha256, which MinIO checks before it keeps
// the object; minio-go would otherwise hash every 64 KiB chunk again to
// sign it (over plain HTTP), or send the payload unsigned (over TLS).
func (m *MinIO) PutVerified(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256hex string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: put verified %q", key)
	ct, err := checkPut(key, size, contentType)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	if size < 0 {
		return domain.BlobInfo{}, invalid("size", "must be known")
	}
	if err := checkSHA256(sha256hex); err != nil {
		return domain.BlobInfo{}, err
	}
	b, err := newBody(r, size)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	opts := minio.PutObjectOptions{ContentType: ct, DisableContentSha256: true}
	up, err := minio.Core{Client: m.client}.PutObject(ctx, m.bucket, key, b, size, "", sha256hex, opts)
	if err != nil {
		if s3Code(err) == "XAmzContentSHA256Mismatch" {
			return domain.BlobInfo{}, hashMismatch(op, err)
		}
		return domain.BlobInfo{}, putError(ctx, op, b, m.fail(op, err))
	}
	modified := up.LastModified
	if modified.IsZero() {
		modified = time.Now()
	}
	return domain.BlobInfo{Key: key, Size: size, ContentType: ct, ModifiedAt: modified.UTC().Truncate(time.Second)}, nil
}

// PutVerified implements domain.MultipartStore: the bytes are hashed as
// they are staged, and the staged file replaces the object only if they
// match.
func (d *Dir) PutVerified(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256hex string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: put verified %q", key)
	if size < 0 {
		return domain.BlobInfo{}, invalid("size", "must be known")
	}
	if err := checkSHA256(sha256hex); err != nil {
		return domain.BlobInfo{}, err
	}
	h := sha256.New()
	return d.put(ctx, op, key, io.TeeReader(r, h), size, contentType, func() error {
		if got := hex.EncodeToString(h.Sum(nil)); got != sha256hex {
			return hashMismatch(op, fmt.Errorf("got sha256 %s", got))
		}
		return nil
	})
}
