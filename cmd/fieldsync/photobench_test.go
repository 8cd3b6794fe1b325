//go:build bench

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs/photoproc"
	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
)

// The photo benchmark's inputs and target (issue: job photos).
const (
	// photoPackage is the Debian package whose wallpapers are the sample
	// photos: large (3640–3840 × 2400) camera-like JPEGs.
	photoPackage = "ukui-wallpapers"
	// photoRounds is how often each file is processed per side.
	photoRounds = 3
	// targetPhotoRatio is ours per CPU-second ÷ vipsthumbnail's.
	targetPhotoRatio = 0.5
)

// photoResult is what BenchmarkPhotoProcessing measured.
type photoResult struct {
	files, photos          int
	pixels                 int64 // per round, all files
	oursCPU, oursWall      time.Duration
	vipsCPU, vipsWall      time.Duration
	peakHeap, allocPerJob  uint64 // bytes, the largest job's
	vipsVersion, filesNote string
}

func (r photoResult) oursRate() float64 { return float64(r.photos) / r.oursCPU.Seconds() }
func (r photoResult) vipsRate() float64 { return float64(r.photos) / r.vipsCPU.Seconds() }

// BenchmarkPhotoProcessing measures the photo pipeline of the worker
// (photoproc.Process: dimension check, decode with EXIF orientation, the
// 1600 px screen image and the 320 px thumbnail, JPEG encoding) on real
// photos, against vipsthumbnail making the same two sizes of the same files
// in the same run. Both sides run on one core (GOMAXPROCS=1;
// VIPS_CONCURRENCY=1) and are charged the CPU time they used, so the ratio
// is per core and does not depend on what else the machine is doing.
func BenchmarkPhotoProcessing(b *testing.B) {
	vips, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		b.Fatal("vipsthumbnail not found: apt-get install -y libvips-tools (make bench installs it)")
	}
	files := samplePhotos(b)
	data := make([][]byte, len(files))
	res := photoResult{files: len(files), filesNote: photoPackage}
	for i, f := range files {
		if data[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	if out, err := exec.Command("vips", "--version").Output(); err == nil {
		res.vipsVersion = strings.TrimSpace(string(out))
	}

	// Ours, on one core.
	prev := runtime.GOMAXPROCS(1)
	runtime.GC()
	c0, w0 := processCPU(), time.Now()
	for range photoRounds {
		for _, d := range data {
			r, err := photoproc.Process(d, photoproc.Sizes{})
			if err != nil {
				b.Fatal(err)
			}
			res.photos++
			if res.photos <= len(data) {
				res.pixels += int64(r.Width) * int64(r.Height)
			}
		}
	}
	res.oursCPU, res.oursWall = processCPU()-c0, time.Since(w0)
	runtime.GOMAXPROCS(prev)

	// vipsthumbnail, on one core, the same sizes, quality and stripping.
	out := b.TempDir()
	for range photoRounds {
		for _, size := range []struct {
			px   int
			name string
		}{{photoproc.DefaultScreenSize, "screen"}, {photoproc.DefaultThumbSize, "thumb"}} {
			args := append(append([]string{}, files...), "-s", fmt.Sprint(size.px),
				"-o", filepath.Join(out, "%s_"+size.name+".jpg[Q=82,strip]"))
			cmd := exec.Command(vips, args...)
			cmd.Env = append(os.Environ(), "VIPS_CONCURRENCY=1")
			w := time.Now()
			if msg, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("vipsthumbnail: %v\n%s", err, msg)
			}
			res.vipsWall += time.Since(w)
			res.vipsCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
	}

	// Peak heap of one job, each file alone after a collection.
	for _, d := range data {
		peak, alloc := jobMemory(b, d)
		res.peakHeap = max(res.peakHeap, peak)
		res.allocPerJob = max(res.allocPerJob, alloc)
	}
	b.Logf("ours: %d photos, %.2f s CPU (%.2f photos/s per core); vipsthumbnail: %.2f s CPU (%.2f photos/s per core); ratio %.2f; peak heap per job %.0f MB",
		res.photos, res.oursCPU.Seconds(), res.oursRate(), res.vipsCPU.Seconds(), res.vipsRate(), res.oursRate()/res.vipsRate(), mb(int64(res.peakHeap)))
	b.ReportMetric(res.oursRate()/res.vipsRate(), "ratio")
	report.set(func(r *benchReport) { r.photos = &res })
}

// jobMemory runs one job and returns the most heap it held above what was
// live before it, and the bytes it allocated in all.
func jobMemory(b *testing.B, data []byte) (peak, alloc uint64) {
	b.Helper()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	read := func() (uint64, uint64) {
		metrics.Read(sample)
		return sample[0].Value.Uint64(), sample[1].Value.Uint64()
	}
	runtime.GC()
	base, alloc0 := read()
	var top atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h, _ := read(); h > top.Load() {
				top.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	if _, err := photoproc.Process(data, photoproc.Sizes{}); err != nil {
		b.Fatal(err)
	}
	h, alloc1 := read()
	close(stop)
	<-done
	if h > top.Load() {
		top.Store(h)
	}
	return top.Load() - min(base, top.Load()), alloc1 - alloc0
}

// samplePhotos returns the JPEGs of photoPackage, downloading and
// unpacking the package into the user's cache directory the first time
// (FIELDSYNC_BENCH_PHOTOS names a directory of JPEGs to use instead).
func samplePhotos(b *testing.B) []string {
	b.Helper()
	dir := os.Getenv("FIELDSYNC_BENCH_PHOTOS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "fieldsync-bench", photoPackage)
		if _, err := os.Stat(filepath.Join(dir, "usr")); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			get := exec.Command("apt-get", "download", photoPackage)
			get.Dir = dir
			if msg, err := get.CombinedOutput(); err != nil {
				b.Fatalf("apt-get download %s: %v\n%s", photoPackage, err, msg)
			}
			debs, _ := filepath.Glob(filepath.Join(dir, photoPackage+"_*.deb"))
			if len(debs) == 0 {
				b.Fatalf("apt-get download %s left no .deb in %s", photoPackage, dir)
			}
			if msg, err := exec.Command("dpkg-deb", "-x", debs[0], dir).CombinedOutput(); err != nil {
				b.Fatalf("dpkg-deb -x: %v\n%s", err, msg)
			}
		}
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".jpg") {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		b.Fatalf("no JPEGs under %s (%v)", dir, err)
	}
	return files
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// targetUploadRatio is upload throughput through the server ÷ a direct PUT.
const targetUploadRatio = 0.8

// uploadWorkers is how many uploads run at once in the concurrent half of
// the upload benchmark: several phones uploading to one server.
const uploadWorkers = 4

// uploadResult is what BenchmarkPhotoUpload measured: each half of the
// uploads (the same number of bytes) one at a time and uploadWorkers at a
// time.
type uploadResult struct {
	uploads, workers         int
	bytes                    int64 // per half
	server, direct           time.Duration
	serverConc, directConc   time.Duration
	serverCPU, serverCPUConc float64 // CPUs the server used on average
	// oneReq and oneReqDirect are the third part's times: tus
	// creation-with-upload (the POST carries the file), one at a time,
	// of oneReqBytes.
	oneReq, oneReqDirect time.Duration
	oneReqBytes          int64
}

func (r uploadResult) serverMBps() float64              { return mb(r.bytes) / r.server.Seconds() }
func (r uploadResult) directMBps() float64              { return mb(r.bytes) / r.direct.Seconds() }
func (r uploadResult) concMBps(d time.Duration) float64 { return mb(r.bytes) / d.Seconds() }

// inParallel runs fn for every index, workers at a time, and returns how
// long that took and the first error.
func inParallel(idx []int, workers int, fn func(int) error) (time.Duration, error) {
	next := make(chan int, len(idx))
	for _, i := range idx {
		next <- i
	}
	close(next)
	errs := make(chan error, workers)
	start := time.Now()
	for range workers {
		go func() {
			var first error
			for i := range next {
				if err := fn(i); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	var err error
	for range workers {
		err = errors.Join(err, <-errs)
	}
	return time.Since(start), err
}

// uploadRounds is how many times each sample photo is uploaded in each
// part of the upload benchmark (one at a time, several at a time, one at a
// time in one request).
const uploadRounds = 4

// BenchmarkPhotoUpload measures photo bytes uploaded through `fieldsync
// serve` (tus: POST /v1/uploads, then one PATCH with the whole file, as
// tus-js-client sends by default) into a real MinIO server, against PUTting
// the same bytes into the same MinIO directly with minio-go, one upload at
// a time on both sides. Each upload's bytes are unique (a sample photo with
// random bytes after its end), so the server's deduplication by content
// hash never skips one. A third part uploads one at a time with tus
// creation-with-upload (the POST carries the whole file: one request).
//
// The two sides alternate (upload by upload one at a time, in blocks of
// two rounds of uploadWorkers several at a time, the side going first
// switching each time), so a machine that slows down part way (other
// work on it, MinIO flushing) slows both alike and the ratio holds. One
// upload each way first warms the connections and is not counted.
func BenchmarkPhotoUpload(b *testing.B) {
	files := samplePhotos(b)
	srvMinIO := miniotest.Start(b)
	e := newBenchEnv(b)
	bucket := "bench-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	e.vars["MINIO_ENDPOINT"], e.vars["MINIO_ACCESS_KEY"], e.vars["MINIO_SECRET_KEY"] = srvMinIO.Endpoint, srvMinIO.AccessKey, srvMinIO.SecretKey
	e.vars["MINIO_BUCKET"] = bucket
	srv := e.serve(b)
	ctx := context.Background()

	org := e.org(b, "photos")
	tech := e.user(b, org, domain.RoleFieldTech, "tech")
	project := &domain.Project{Name: "Roof", Type: "replacement", Status: domain.ProjectScheduled, AssignedTech: tech.ID}
	err := e.sys.store.Write(ctx, system0(org), func(tx domain.Tx) error {
		cust := &domain.Customer{FirstName: "Pat", LastName: "Doe"}
		if err := tx.Create(cust); err != nil {
			return err
		}
		project.CustomerID = cust.ID
		return tx.Create(project)
	})
	if err != nil {
		b.Fatal(err)
	}
	token := e.token(b, tech)
	asTech := domain.Principal{OrgID: org.ID, UserID: tech.ID, Role: tech.Role}

	// A third of them one at a time, a third several at a time, a third in
	// one request each; the last warms up.
	var bodies [][]byte
	for range 3 * uploadRounds {
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			tail := make([]byte, 32)
			_, _ = rand.Read(tail)
			bodies = append(bodies, append(raw, tail...))
		}
	}
	bodies = append(bodies, bodies[0][:len(bodies[0])-32:len(bodies[0])-32])
	bodies[len(bodies)-1] = append(bodies[len(bodies)-1], []byte("warm-up, not measured, 32 bytes")...)
	photos := make([]*domain.Photo, len(bodies))
	err = e.sys.store.Write(ctx, asTech, func(tx domain.Tx) error {
		for i, body := range bodies {
			sum := sha256.Sum256(body)
			photos[i] = &domain.Photo{
				ProjectID: project.ID, TakenBy: tech.ID, Kind: domain.PhotoBefore, TakenAt: time.Now().UTC(),
				SHA256: hex.EncodeToString(sum[:]), ByteSize: int64(len(body)), ContentType: "image/jpeg",
				UploadState: domain.UploadPending, ProcessingState: domain.ProcessingPending,
			}
			if err := tx.Create(photos[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: uploadWorkers}}
	tus := func(method, url string, hdr map[string]string, body []byte) (*http.Response, error) {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, url, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, msg)
		}
		return resp, nil
	}
	upload := func(i int) error {
		body := bodies[i]
		created, err := tus(http.MethodPost, srv.base+"/v1/uploads", map[string]string{
			"Upload-Length":   strconv.Itoa(len(body)),
			"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(photos[i].ID)),
		}, nil)
		if err != nil {
			return err
		}
		loc := created.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = srv.base + loc
		}
		done, err := tus(http.MethodPatch, loc, map[string]string{
			"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
		}, body)
		if err != nil {
			return err
		}
		if got := done.Header.Get("Upload-Offset"); got != strconv.Itoa(len(body)) {
			return fmt.Errorf("upload %d ended at offset %s of %d", i, got, len(body))
		}
		return nil
	}
	uploadOne := func(i int) error {
		body := bodies[i]
		created, err := tus(http.MethodPost, srv.base+"/v1/uploads", map[string]string{
			"Upload-Length":   strconv.Itoa(len(body)),
			"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(photos[i].ID)),
			"Content-Type":    "application/offset+octet-stream",
		}, body)
		if err != nil {
			return err
		}
		if got := created.Header.Get("Upload-Offset"); got != strconv.Itoa(len(body)) {
			return fmt.Errorf("upload %d in one request ended at offset %s of %d", i, got, len(body))
		}
		return nil
	}
	mc, err := minio.New(srvMinIO.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srvMinIO.AccessKey, srvMinIO.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	direct := bucket + "-direct"
	if err := mc.MakeBucket(ctx, direct, minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	put := func(i int) error {
		_, err := mc.PutObject(ctx, direct, fmt.Sprintf("direct/%d", i), bytes.NewReader(bodies[i]), int64(len(bodies[i])),
			minio.PutObjectOptions{ContentType: "image/jpeg"})
		return err
	}

	warm := len(bodies) - 1
	if err := upload(warm); err != nil {
		b.Fatal(err)
	}
	if err := put(warm); err != nil {
		b.Fatal(err)
	}

	// A third of the bodies one at a time, a third uploadWorkers at a time,
	// a third one at a time in one request, through the server and directly
	// in alternation.
	half := warm / 3
	res := uploadResult{uploads: half, workers: uploadWorkers}
	var oneReq, oneReqDirect time.Duration
	var oneReqCPU float64
	for _, run := range []struct {
		from, workers, block int
		fn                   func(int) error
		server, directed     *time.Duration
		cpu                  *float64
	}{
		{0, 1, 1, upload, &res.server, &res.direct, &res.serverCPU},
		{half, uploadWorkers, 2 * uploadWorkers, upload, &res.serverConc, &res.directConc, &res.serverCPUConc},
		{2 * half, 1, 1, uploadOne, &oneReq, &oneReqDirect, &oneReqCPU},
	} {
		var serverCPU float64
		for k := 0; k < half; k += run.block {
			idx := make([]int, 0, run.block)
			for i := run.from + k; i < run.from+min(k+run.block, half); i++ {
				idx = append(idx, i)
			}
			sides := []func() error{
				func() error {
					cpu0 := e.cpu(b, srv)
					d, err := inParallel(idx, run.workers, run.fn)
					cpu1 := e.cpu(b, srv)
					*run.server += d
					serverCPU += cpu1.server - cpu0.server
					return err
				},
				func() error {
					d, err := inParallel(idx, run.workers, put)
					*run.directed += d
					return err
				},
			}
			if (k/run.block)%2 == 1 {
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, side := range sides {
				if err := side(); err != nil {
					b.Fatal(err)
				}
			}
		}
		*run.cpu = serverCPU / run.server.Seconds()
	}
	for _, body := range bodies[:half] {
		res.bytes += int64(len(body))
	}
	res.oneReq, res.oneReqDirect = oneReq, oneReqDirect
	for _, body := range bodies[2*half : 3*half] {
		res.oneReqBytes += int64(len(body))
	}
	b.Logf("%d uploads, %.1f MB, one at a time: through the server %.1f MB/s, direct PUT %.1f MB/s, ratio %.2f; %d at a time: %.1f vs %.1f MB/s, ratio %.2f",
		res.uploads, mb(res.bytes), res.serverMBps(), res.directMBps(), res.serverMBps()/res.directMBps(),
		uploadWorkers, res.concMBps(res.serverConc), res.concMBps(res.directConc), res.concMBps(res.serverConc)/res.concMBps(res.directConc))
	b.Logf("creation-with-upload (the POST carries the file), one at a time: %.1f vs %.1f MB/s, ratio %.2f",
		mb(res.oneReqBytes)/oneReq.Seconds(), mb(res.oneReqBytes)/oneReqDirect.Seconds(), oneReqDirect.Seconds()/oneReq.Seconds())
	b.ReportMetric(res.serverMBps()/res.directMBps(), "ratio")
	b.ReportMetric(res.concMBps(oneReq)/res.concMBps(oneReqDirect), "ratio-one-request")
	b.ReportMetric(res.concMBps(res.serverConc)/res.concMBps(res.directConc), "ratio-concurrent")
	report.set(func(r *benchReport) { r.upload = &res })
}
