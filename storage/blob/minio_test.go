package blob_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/blob/blobtest"
	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
)

func TestMinIOConformance(t *testing.T) {
	miniotest.Shared(t) // skip or fail here once, not in every subtest
	blobtest.RunConformance(t, func(t *testing.T) domain.BlobStore {
		return newMinIO(t, minioConfig(t, newBucketName()))
	})
}

// minioConfig points at the shared server; each test takes its own bucket.
func minioConfig(tb testing.TB, bucket string) blob.MinIOConfig {
	tb.Helper()
	srv := miniotest.Shared(tb)
	return blob.MinIOConfig{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: bucket}
}

func newMinIO(tb testing.TB, cfg blob.MinIOConfig) *blob.MinIO {
	tb.Helper()
	m, err := blob.NewMinIO(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("NewMinIO: %v", err)
	}
	return m
}

func newBucketName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails
	return "test-" + hex.EncodeToString(b)
}

// Replicas starting together all create the bucket; each must succeed.
func TestNewMinIOCreatesBucketOnce(t *testing.T) {
	t.Parallel()
	cfg := minioConfig(t, newBucketName())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			m, err := blob.NewMinIO(t.Context(), cfg)
			if err != nil {
				t.Errorf("NewMinIO racing for the bucket: %v", err)
				return
			}
			if err := m.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
	wg.Wait()
	// And again once it exists.
	blobtest.MustPut(t, newMinIO(t, cfg), "k", strings.NewReader("v"), 1, "")
	blobtest.MustStat(t, newMinIO(t, cfg), "k")
}

func TestNewMinIOInvalidConfig(t *testing.T) {
	t.Parallel()
	good := blob.MinIOConfig{Endpoint: "127.0.0.1:9000", AccessKey: "user", SecretKey: "password", Bucket: "photos"}
	cases := map[string]func(*blob.MinIOConfig){
		"no endpoint":         func(c *blob.MinIOConfig) { c.Endpoint = "" },
		"endpoint with https": func(c *blob.MinIOConfig) { c.Endpoint = "https://minio.example.com" },
		"no access key":       func(c *blob.MinIOConfig) { c.AccessKey = "" },
		"no secret key":       func(c *blob.MinIOConfig) { c.SecretKey = "" },
		"no bucket":           func(c *blob.MinIOConfig) { c.Bucket = "" },
		"upper-case bucket":   func(c *blob.MinIOConfig) { c.Bucket = "Photos" },
		"underscore bucket":   func(c *blob.MinIOConfig) { c.Bucket = "my_photos" },
		"endpoint with path":  func(c *blob.MinIOConfig) { c.Endpoint = "127.0.0.1:9000/photos" },
	}
	for name, mutate := range cases {
		cfg := good
		mutate(&cfg)
		_, err := blob.NewMinIO(t.Context(), cfg)
		blobtest.RequireCode(t, err, domain.CodeInvalid, "NewMinIO with %s", name)
	}
}

func TestNewMinIOWrongCredentials(t *testing.T) {
	t.Parallel()
	cfg := minioConfig(t, newBucketName())
	cfg.SecretKey += "x"
	_, err := blob.NewMinIO(t.Context(), cfg)
	blobtest.RequireCode(t, err, domain.CodeInternal, "NewMinIO with a wrong secret key")
}

// A bucket removed behind the store's back (or never created, by an operator
// who gave the store no right to) makes it unavailable, not broken.
func TestMinIOBucketRemoved(t *testing.T) {
	t.Parallel()
	cfg := minioConfig(t, newBucketName())
	m := newMinIO(t, cfg)
	other := newMinIO(t, cfg)
	blobtest.MustPut(t, other, "k", strings.NewReader("v"), 1, "")
	blobtest.MustDelete(t, other, "k")
	removeBucket(t, cfg)

	blobtest.RequireCode(t, m.Ping(t.Context()), domain.CodeUnavailable, "Ping")
	_, err := m.Stat(t.Context(), "k")
	blobtest.RequireCode(t, err, domain.CodeUnavailable, "Stat")
	_, err = m.Put(t.Context(), "k", strings.NewReader("v"), 1, "")
	blobtest.RequireCode(t, err, domain.CodeUnavailable, "Put")
}

func TestMinIOPresignGet(t *testing.T) {
	t.Parallel()
	m := newMinIO(t, minioConfig(t, newBucketName()))
	data := blobtest.Payload(3, 300_000)
	blobtest.MustPut(t, m, "photos/p 1.jpg", bytes.NewReader(data), -1, "image/jpeg")

	u, err := m.PresignGet(t.Context(), "photos/p 1.jpg", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	status, body, header := fetch(t, u)
	if status != http.StatusOK || header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET of the signed URL: %d %q", status, header.Get("Content-Type"))
	}
	blobtest.RequireBytes(t, body, data)

	// The signature covers the key: the URL opens nothing else.
	parsed, _ := url.Parse(u)
	parsed.Path = strings.Replace(parsed.Path, "p%201.jpg", "other.jpg", 1)
	parsed.Path = strings.Replace(parsed.Path, "p 1.jpg", "other.jpg", 1)
	if status, _, _ := fetch(t, parsed.String()); status != http.StatusForbidden {
		t.Errorf("a signed URL with another key answered %d, want 403", status)
	}

	// Signing does not look the object up; fetching a missing one is a 404.
	u, err = m.PresignGet(t.Context(), "photos/missing.jpg", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fetch(t, u); status != http.StatusNotFound {
		t.Errorf("a signed URL of a missing object answered %d, want 404", status)
	}

	for _, ttl := range []time.Duration{0, -time.Second, 500 * time.Millisecond, 7*24*time.Hour + time.Second} {
		_, err := m.PresignGet(t.Context(), "photos/p 1.jpg", ttl)
		blobtest.RequireCode(t, err, domain.CodeInvalid, "PresignGet with ttl %v", ttl)
	}
	_, err = m.PresignGet(t.Context(), "../p.jpg", time.Minute)
	blobtest.RequireCode(t, err, domain.CodeInvalid, "PresignGet of a bad key")
}

func TestMinIOPresignGetExpires(t *testing.T) {
	t.Parallel()
	m := newMinIO(t, minioConfig(t, newBucketName()))
	blobtest.MustPut(t, m, "p.jpg", strings.NewReader("photo"), 5, "image/jpeg")
	u, err := m.PresignGet(t.Context(), "p.jpg", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fetch(t, u); status != http.StatusOK {
		t.Fatalf("a fresh signed URL answered %d", status)
	}
	// The signature's time has whole seconds, so 2 s is past any 1 s TTL.
	time.Sleep(2100 * time.Millisecond)
	if status, _, _ := fetch(t, u); status != http.StatusForbidden {
		t.Errorf("an expired signed URL answered %d, want 403", status)
	}
}

func fetch(tb testing.TB, u string) (int, []byte, http.Header) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

// removeBucket deletes the empty bucket with a client of its own, as an
// operator would.
func removeBucket(tb testing.TB, cfg blob.MinIOConfig) {
	tb.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")})
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.RemoveBucket(tb.Context(), cfg.Bucket); err != nil {
		tb.Fatalf("remove bucket: %v", err)
	}
}
