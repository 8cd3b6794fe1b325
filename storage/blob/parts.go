package blob

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/iswitchroofs/fieldsync/domain"
)

var (
	_ domain.PartStore  = (*MinIO)(nil)
	_ domain.PartStore  = (*Dir)(nil)
	_ domain.BlobSigner = (*MinIO)(nil)
)

const (
	// minComposePart is S3's smallest part for a server-side compose (all
	// but the last source must reach it).
	minComposePart = 5 << 20
	// maxComposeParts is S3's largest number of sources in one compose.
	maxComposeParts = 10000
)

func checkCompose(dst string, parts []string, contentType string) (string, error) {
	ct, err := checkPut(dst, -1, contentType)
	if err != nil {
		return "", err
	}
	if len(parts) == 0 {
		return "", invalid("parts", "at least one part is required")
	}
	for _, p := range parts {
		if err := checkKey(p); err != nil {
			return "", err
		}
	}
	return ct, nil
}

// Compose implements domain.PartStore. Parts large enough for S3's
// server-side compose are joined inside MinIO without their bytes passing
// through this process; smaller ones (a phone on a bad network sends short
// requests) are streamed through in order, one part at a time.
func (m *MinIO) Compose(ctx context.Context, dst string, parts []string, contentType string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: compose %q", dst)
	ct, err := checkCompose(dst, parts, contentType)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	sizes := make([]int64, len(parts))
	var total int64
	serverSide := len(parts) <= maxComposeParts
	for i, p := range parts {
		info, err := m.Stat(ctx, p)
		if err != nil {
			return domain.BlobInfo{}, err
		}
		sizes[i] = info.Size
		total += info.Size
		if i < len(parts)-1 && info.Size < minComposePart {
			serverSide = false
		}
	}
	if !serverSide {
		pr := &partsReader{ctx: ctx, store: m, keys: parts}
		defer pr.close()
		return m.Put(ctx, dst, pr, total, ct)
	}
	srcs := make([]minio.CopySrcOptions, len(parts))
	for i, p := range parts {
		srcs[i] = minio.CopySrcOptions{Bucket: m.bucket, Object: p}
	}
	dstOpts := minio.CopyDestOptions{Bucket: m.bucket, Object: dst, ReplaceMetadata: true,
		UserMetadata: map[string]string{"Content-Type": ct}}
	var up minio.UploadInfo
	if len(parts) == 1 {
		up, err = m.client.CopyObject(ctx, dstOpts, srcs[0])
	} else {
		up, err = m.client.ComposeObject(ctx, dstOpts, srcs...)
	}
	if err != nil {
		return domain.BlobInfo{}, m.fail(op, err)
	}
	info, err := m.Stat(ctx, dst)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	if info.Size != total {
		return domain.BlobInfo{}, wrap(domain.CodeInternal, op,
			fmt.Errorf("composed %d bytes of %d (etag %s)", info.Size, total, up.ETag), "the photo store failed")
	}
	return info, nil
}

// Compose implements domain.PartStore: the parts are copied in order into
// a staging file that is renamed into place, like a Put.
func (d *Dir) Compose(ctx context.Context, dst string, parts []string, contentType string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: compose %q", dst)
	ct, err := checkCompose(dst, parts, contentType)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	for _, p := range parts {
		if _, err := d.Stat(ctx, p); err != nil {
			return domain.BlobInfo{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return domain.BlobInfo{}, canceled(op, err)
	}
	pr := &partsReader{ctx: ctx, store: d, keys: parts}
	defer pr.close()
	return d.Put(ctx, dst, pr, -1, ct)
}

// partsReader reads the objects at keys one after another, opening each
// only when the previous one is done, so one part's reader is open at a time.
type partsReader struct {
	ctx   context.Context
	store domain.BlobStore
	keys  []string
	cur   io.ReadCloser
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.keys) == 0 {
				return 0, io.EOF
			}
			rc, _, err := r.store.Get(r.ctx, r.keys[0])
			if err != nil {
				return 0, err
			}
			r.cur, r.keys = rc, r.keys[1:]
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			_ = r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// close releases the part being read, if any (a Put that failed part way).
func (r *partsReader) close() {
	if r.cur != nil {
		_ = r.cur.Close()
		r.cur = nil
	}
}

// Bucket names the bucket the store keeps its objects in.
func (m *MinIO) Bucket() string { return m.bucket }
