package mobile

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// BenchmarkUploadThroughput uploads a 40 MiB photo through the server (one
// tus PATCH, stored as 8 MiB parts that MinIO joins) and PUTs the same
// bytes straight into MinIO with minio-go, alternating, in the same run
// against the same real MinIO server. upload_ratio is the server's MB/s
// over the direct PUT's (target ≥ 0.8).
func BenchmarkUploadThroughput(b *testing.B) {
	e := newPhotoEnv(b, minioStore, func(c *UploadsConfig) { c.PartSize = DefaultUploadPartSize })
	const size = 40 << 20
	const rounds = 3
	data := jpegBytes(41, size)
	var through, direct time.Duration
	n := 0
	b.ResetTimer()
	for i := range b.N {
		for r := range rounds {
			data[100], data[101] = byte(i), byte(r) // other bytes each time: no deduplication
			ph := e.photo(data)
			loc := e.mustCreate(e.base, ph)
			start := time.Now()
			if a := e.patch(e.base, loc, 0, data, nil); a.status != http.StatusNoContent {
				b.Fatalf("PATCH: %d %+v", a.status, a.problem)
			}
			through += time.Since(start)
			start = time.Now()
			if _, err := e.blobs.Put(b.Context(), fmt.Sprintf("bench/direct-%d-%d", i, r), bytes.NewReader(data), size, "image/jpeg"); err != nil {
				b.Fatal(err)
			}
			direct += time.Since(start)
			n++
		}
	}
	b.StopTimer()
	mb := float64(n*size) / (1 << 20)
	b.ReportMetric(mb/through.Seconds(), "server_MB/s")
	b.ReportMetric(mb/direct.Seconds(), "direct_MB/s")
	b.ReportMetric(direct.Seconds()/through.Seconds(), "upload_ratio")
}
