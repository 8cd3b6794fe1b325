package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/iswitchroofs/fieldsync/domain"
)

var (
	_ domain.MultipartStore = (*MinIO)(nil)
	_ domain.MultipartStore = (*Dir)(nil)
)

const maxPartNumber = 10000

func checkPartNumber(n int) error {
	if n < 1 || n > maxPartNumber {
		return invalid("part", "must be numbered 1 to 10000")
	}
	return nil
}

func checkParts(parts []domain.MultipartPart) error {
	if len(parts) == 0 {
		return invalid("parts", "at least one part is required")
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return invalid("parts", "must be in ascending number")
		}
	}
	return nil
}

// StartMultipart implements domain.MultipartStore.
func (m *MinIO) StartMultipart(ctx context.Context, key, contentType string) (string, error) {
	op := fmt.Sprintf("blob: start multipart %q", key)
	ct, err := checkPut(key, -1, contentType)
	if err != nil {
		return "", err
	}
	id, err := minio.Core{Client: m.client}.NewMultipartUpload(ctx, m.bucket, key, minio.PutObjectOptions{ContentType: ct})
	if err != nil {
		return "", m.fail(op, err)
	}
	return id, nil
}

// PutPart implements domain.MultipartStore.
func (m *MinIO) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (domain.MultipartPart, error) {
	op := fmt.Sprintf("blob: put part %d of %q", n, key)
	if err := checkKey(key); err != nil {
		return domain.MultipartPart{}, err
	}
	if err := checkPartNumber(n); err != nil {
		return domain.MultipartPart{}, err
	}
	b, err := newBody(r, size)
	if err != nil {
		return domain.MultipartPart{}, err
	}
	p, err := minio.Core{Client: m.client}.PutObjectPart(ctx, m.bucket, key, id, n, b, size, minio.PutObjectPartOptions{})
	if err != nil {
		return domain.MultipartPart{}, putError(ctx, op, b, m.fail(op, err))
	}
	return domain.MultipartPart{Number: n, ETag: p.ETag, Size: size}, nil
}

// CompleteMultipart implements domain.MultipartStore.
func (m *MinIO) CompleteMultipart(ctx context.Context, key, id string, parts []domain.MultipartPart) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: complete multipart %q", key)
	if err := checkKey(key); err != nil {
		return domain.BlobInfo{}, err
	}
	if err := checkParts(parts); err != nil {
		return domain.BlobInfo{}, err
	}
	cps := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cps[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	if _, err := (minio.Core{Client: m.client}).CompleteMultipartUpload(ctx, m.bucket, key, id, cps, minio.PutObjectOptions{}); err != nil {
		switch s3Code(err) {
		case "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload":
			return domain.BlobInfo{}, wrap(domain.CodeInvalid, op, err, "the parts cannot make the object")
		}
		return domain.BlobInfo{}, m.fail(op, err)
	}
	return m.Stat(ctx, key)
}

// AbortMultipart implements domain.MultipartStore.
func (m *MinIO) AbortMultipart(ctx context.Context, key, id string) error {
	op := fmt.Sprintf("blob: abort multipart %q", key)
	if err := checkKey(key); err != nil {
		return err
	}
	err := minio.Core{Client: m.client}.AbortMultipartUpload(ctx, m.bucket, key, id)
	if s3Code(err) == "NoSuchUpload" {
		return nil
	}
	return m.fail(op, err)
}

// The directory store keeps a multipart upload's parts as files in
// tmp/mp-<id>/ and joins them into the object on completion; the content
// type is kept in a file beside them.

func (d *Dir) multipartDir(id string) (string, error) {
	if !strings.HasPrefix(id, "mp-") || len(id) != 3+32 || strings.ContainsAny(id, "/\\.") {
		return "", invalid("id", "no such multipart upload")
	}
	return filepath.Join(d.staging, id), nil
}

// StartMultipart implements domain.MultipartStore.
func (d *Dir) StartMultipart(ctx context.Context, key, contentType string) (string, error) {
	op := fmt.Sprintf("blob: start multipart %q", key)
	ct, err := checkPut(key, -1, contentType)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", canceled(op, err)
	}
	var r [16]byte
	_, _ = rand.Read(r[:])
	id := "mp-" + hex.EncodeToString(r[:])
	dir, _ := d.multipartDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", wrap(domain.CodeInternal, op, err, "the upload could not be started")
	}
	if err := os.WriteFile(filepath.Join(dir, "content-type"), []byte(ct), 0o644); err != nil {
		return "", wrap(domain.CodeInternal, op, err, "the upload could not be started")
	}
	return id, nil
}

// PutPart implements domain.MultipartStore.
func (d *Dir) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (domain.MultipartPart, error) {
	op := fmt.Sprintf("blob: put part %d of %q", n, key)
	if err := checkKey(key); err != nil {
		return domain.MultipartPart{}, err
	}
	if err := checkPartNumber(n); err != nil {
		return domain.MultipartPart{}, err
	}
	dir, err := d.multipartDir(id)
	if err != nil {
		return domain.MultipartPart{}, err
	}
	if _, err := os.Stat(dir); err != nil {
		return domain.MultipartPart{}, wrap(domain.CodeNotFound, op, err, "no such multipart upload")
	}
	b, err := newBody(r, size)
	if err != nil {
		return domain.MultipartPart{}, err
	}
	f, err := os.CreateTemp(dir, "part-*")
	if err != nil {
		return domain.MultipartPart{}, wrap(domain.CodeInternal, op, err, "the part could not be stored")
	}
	defer os.Remove(f.Name())
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, sum), ctxReader{ctx, b}); err != nil {
		_ = f.Close()
		return domain.MultipartPart{}, putError(ctx, op, b, wrap(domain.CodeInternal, op, err, "the part could not be stored"))
	}
	if err := f.Close(); err != nil {
		return domain.MultipartPart{}, wrap(domain.CodeInternal, op, err, "the part could not be stored")
	}
	// The tag is a hash of the bytes, as S3's is: the same part sent twice
	// has one tag, a different one another, and the file's name carries it,
	// so completing with a stale tag is refused as S3 refuses it.
	etag := hex.EncodeToString(sum.Sum(nil)[:16])
	for _, old := range partFiles(dir, n) {
		_ = os.Remove(old)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, fmt.Sprintf("%05d.%s", n, etag))); err != nil {
		return domain.MultipartPart{}, wrap(domain.CodeInternal, op, err, "the part could not be stored")
	}
	return domain.MultipartPart{Number: n, ETag: etag, Size: b.n}, nil
}

func partFiles(dir string, n int) []string {
	files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%05d.*", n)))
	return files
}

// CompleteMultipart implements domain.MultipartStore.
func (d *Dir) CompleteMultipart(ctx context.Context, key, id string, parts []domain.MultipartPart) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: complete multipart %q", key)
	if err := checkKey(key); err != nil {
		return domain.BlobInfo{}, err
	}
	if err := checkParts(parts); err != nil {
		return domain.BlobInfo{}, err
	}
	dir, err := d.multipartDir(id)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	ct, err := os.ReadFile(filepath.Join(dir, "content-type"))
	if err != nil {
		return domain.BlobInfo{}, wrap(domain.CodeInvalid, op, err, "no such multipart upload")
	}
	readers := make([]io.Reader, 0, len(parts))
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for _, p := range parts {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%05d.%s", p.Number, p.ETag)))
		if err != nil {
			return domain.BlobInfo{}, wrap(domain.CodeInvalid, op, err, "the parts cannot make the object")
		}
		closers = append(closers, f)
		readers = append(readers, f)
	}
	info, err := d.Put(ctx, key, io.MultiReader(readers...), -1, string(ct))
	if err != nil {
		return domain.BlobInfo{}, err
	}
	_ = os.RemoveAll(dir)
	return info, nil
}

// AbortMultipart implements domain.MultipartStore.
func (d *Dir) AbortMultipart(ctx context.Context, key, id string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dir, err := d.multipartDir(id)
	if err != nil {
		return nil // not one of ours: nothing to drop
	}
	_ = os.RemoveAll(dir)
	return nil
}
