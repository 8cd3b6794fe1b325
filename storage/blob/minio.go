package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/iswitchroofs/fieldsync/domain"
)

// MinIOConfig says where a MinIO store keeps its objects.
type MinIOConfig struct {
	Endpoint  string // host:port, without a scheme
	AccessKey string
	SecretKey string
	Bucket    string // created if missing
	UseSSL    bool
	Region    string // optional; set it to spare a bucket-location lookup
}

// MinIO is a domain.BlobStore on a MinIO (or other S3-compatible) bucket,
// for production, where several server and worker replicas share it.
//
// A request that cannot reach the server is retried with backoff for a few
// seconds, which rides out a MinIO restart; a caller that cannot wait that
// long (a health check) bounds it with its context.
//
// A Put that fails part way through a multipart upload leaves parts that no
// reader sees; MinIO removes such stale uploads itself after a day, and on
// other S3 services a lifecycle rule should.
type MinIO struct {
	client *minio.Client
	bucket string
}

var _ domain.BlobStore = (*MinIO)(nil)

const (
	// unknownSizePartSize is the part size for a Put of unknown size.
	// minio-go buffers one part in memory per upload and otherwise sizes it
	// for a 5 TiB object (over 500 MiB); 5 MiB, S3's minimum, still allows
	// 50 GiB, far beyond any photo.
	unknownSizePartSize = 5 << 20

	// maxPresignTTL is S3's limit on a presigned URL's lifetime.
	maxPresignTTL = 7 * 24 * time.Hour
)

// NewMinIO connects to the bucket, creating it if it does not exist. It
// returns CodeInvalid for a bad configuration and CodeUnavailable if the
// server cannot be reached.
func NewMinIO(ctx context.Context, cfg MinIOConfig) (*MinIO, error) {
	m, err := newMinIO(cfg, 0)
	if err != nil {
		return nil, err
	}
	if err := m.ensureBucket(ctx, cfg.Region); err != nil {
		return nil, err
	}
	return m, nil
}

// newMinIO builds the client without contacting the server. attempts bounds
// the tries of each request; 0 keeps minio-go's default.
func newMinIO(cfg MinIOConfig, attempts int) (*MinIO, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, invalid("endpoint", "must not be empty")
	case strings.Contains(cfg.Endpoint, "://"):
		return nil, invalid("endpoint", "must be host:port without a scheme (set UseSSL for https)")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, invalid("access_key", "the access key and secret key are required")
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, invalid("bucket", "must be 3 to 63 lowercase letters, digits, dots and hyphens")
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.UseSSL,
		Region:     cfg.Region,
		MaxRetries: attempts,
	})
	if err != nil {
		return nil, wrap(domain.CodeInvalid, "blob: minio endpoint", err, "endpoint: must be host:port")
	}
	return &MinIO{client: client, bucket: cfg.Bucket}, nil
}

// ensureBucket checks before it creates, because the credentials may be
// allowed to use the bucket but not to create buckets.
func (m *MinIO) ensureBucket(ctx context.Context, region string) error {
	op := fmt.Sprintf("blob: ensure bucket %q", m.bucket)
	exists, err := m.client.BucketExists(ctx, m.bucket)
	if err != nil {
		return m.fail(op, err)
	}
	if exists {
		return nil
	}
	err = m.client.MakeBucket(ctx, m.bucket, minio.MakeBucketOptions{Region: region})
	if s3Code(err) == "BucketAlreadyOwnedByYou" {
		return nil // another replica created it since BucketExists
	}
	return m.fail(op, err)
}

// Put implements domain.BlobStore. The ModifiedAt it returns is this
// process's clock, because S3 does not report the time of a PUT.
func (m *MinIO) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: put %q", key)
	ct, err := checkPut(key, size, contentType)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	b, err := newBody(r, size)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	opts := minio.PutObjectOptions{ContentType: ct}
	if size < 0 {
		opts.PartSize = unknownSizePartSize
	}
	up, err := m.client.PutObject(ctx, m.bucket, key, b, size, opts)
	if err != nil {
		return domain.BlobInfo{}, putError(ctx, op, b, m.fail(op, err))
	}
	modified := up.LastModified
	if modified.IsZero() {
		modified = time.Now()
	}
	return domain.BlobInfo{Key: key, Size: up.Size, ContentType: ct, ModifiedAt: modified.UTC().Truncate(time.Second)}, nil
}

// Get implements domain.BlobStore. The object arrives in one GET, so the
// reader sees one version even if the key is overwritten meanwhile; it stops
// with an error when ctx ends.
func (m *MinIO) Get(ctx context.Context, key string) (io.ReadCloser, domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: get %q", key)
	if err := checkKey(key); err != nil {
		return nil, domain.BlobInfo{}, err
	}
	rc, oi, _, err := minio.Core{Client: m.client}.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, domain.BlobInfo{}, m.fail(op, err)
	}
	return &minioReader{rc: rc, fail: func(err error) error { return m.fail(op, err) }}, m.info(key, oi), nil
}

// minioReader translates errors that occur while the object streams in.
type minioReader struct {
	rc   io.ReadCloser
	fail func(error) error
}

func (r *minioReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.fail(err)
	}
	return n, err
}

func (r *minioReader) Close() error { return r.rc.Close() }

// Stat implements domain.BlobStore.
func (m *MinIO) Stat(ctx context.Context, key string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: stat %q", key)
	if err := checkKey(key); err != nil {
		return domain.BlobInfo{}, err
	}
	oi, err := m.client.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return domain.BlobInfo{}, m.fail(op, err)
	}
	return m.info(key, oi), nil
}

func (m *MinIO) info(key string, oi minio.ObjectInfo) domain.BlobInfo {
	ct := oi.ContentType
	if ct == "" {
		ct = oi.UserMetadata["content-type"] // where MinIO's listing puts it
	}
	return domain.BlobInfo{Key: key, Size: oi.Size, ContentType: ct, ModifiedAt: oi.LastModified.UTC().Truncate(time.Second)}
}

// Delete implements domain.BlobStore.
func (m *MinIO) Delete(ctx context.Context, key string) error {
	op := fmt.Sprintf("blob: delete %q", key)
	if err := checkKey(key); err != nil {
		return err
	}
	return m.fail(op, m.client.RemoveObject(ctx, m.bucket, key, minio.RemoveObjectOptions{}))
}

// List implements domain.BlobStore. It asks MinIO to include each object's
// metadata in the listing; a server that ignores the request (plain S3) costs
// one extra Stat per object.
func (m *MinIO) List(ctx context.Context, prefix string, fn func(domain.BlobInfo) error) error {
	op := fmt.Sprintf("blob: list %q", prefix)
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	// minio-go lists in a goroutine that runs until its context ends, so end
	// it when fn stops early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithMetadata: true}
	for oi := range m.client.ListObjectsIter(ctx, m.bucket, opts) {
		if oi.Err != nil {
			return m.fail(op, oi.Err)
		}
		info := m.info(oi.Key, oi)
		if info.ContentType == "" {
			var err error
			if info, err = m.Stat(ctx, oi.Key); err != nil {
				if domain.IsCode(err, domain.CodeNotFound) {
					continue // deleted since it was listed
				}
				return err
			}
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements domain.BlobStore: the server answers and the bucket exists.
func (m *MinIO) Ping(ctx context.Context) error {
	op := fmt.Sprintf("blob: ping bucket %q", m.bucket)
	exists, err := m.client.BucketExists(ctx, m.bucket)
	if err != nil {
		return m.fail(op, err)
	}
	if !exists {
		return wrap(domain.CodeUnavailable, op, errors.New("no such bucket"), "the photo bucket does not exist")
	}
	return nil
}

// PresignGet returns a URL that fetches the object without credentials until
// ttl (at most 7 days) has passed, so that an app can show a photo straight
// from the store. The URL names the configured endpoint, so that endpoint
// must be reachable by whoever gets the URL. Signing does not check that the
// object exists; fetching a missing one answers 404. Returns CodeInvalid for
// a bad key or ttl.
func (m *MinIO) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	op := fmt.Sprintf("blob: presign get %q", key)
	if err := checkKey(key); err != nil {
		return "", err
	}
	if ttl < time.Second || ttl > maxPresignTTL {
		return "", invalid("ttl", "must be between 1 second and 7 days")
	}
	u, err := m.client.PresignedGetObject(ctx, m.bucket, key, ttl, nil)
	if err != nil {
		return "", m.fail(op, err)
	}
	return u.String(), nil
}

// fail translates a minio-go error into the domain's codes; nil stays nil.
func (m *MinIO) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if isContextErr(err) {
		return canceled(op, err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.Code == "NoSuchKey":
			return wrap(domain.CodeNotFound, op, err, "object not found")
		case resp.Code == "NoSuchBucket":
			return wrap(domain.CodeUnavailable, op, err, "the photo bucket does not exist")
		case resp.Code == "SlowDown", resp.Code == "XMinioServerNotInitialized",
			resp.StatusCode == http.StatusBadGateway,
			resp.StatusCode == http.StatusServiceUnavailable,
			resp.StatusCode == http.StatusGatewayTimeout:
			return wrap(domain.CodeUnavailable, op, err, "the photo store is unavailable; try again later")
		}
		return wrap(domain.CodeInternal, op, err, "the photo store failed")
	}
	// net.Error covers refused and reset connections and timeouts (url.Error
	// is one); a response cut short surfaces as an unexpected EOF.
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) {
		return wrap(domain.CodeUnavailable, op, err, "the photo store is unavailable; try again later")
	}
	return wrap(domain.CodeInternal, op, err, "the photo store failed")
}

// s3Code returns the S3 error code in err's chain, or "".
func s3Code(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}
