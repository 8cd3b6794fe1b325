package photoproc_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/jobs/photoproc"
)

// wallpapers returns the JPEGs of Debian's ukui-wallpapers package (3640 or
// 3840 × 2400 photos), downloaded once with apt-get into the user's cache.
func wallpapers(b *testing.B) []string {
	b.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "fieldsync-bench", "ukui-wallpapers")
	files, _ := filepath.Glob(filepath.Join(dir, "x", "usr", "share", "backgrounds", "*.jpg"))
	if len(files) > 0 {
		return files
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"apt-get", "download", "ukui-wallpapers"}, {"sh", "-c", "dpkg-deb -x ukui-wallpapers_*.deb x"}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Skipf("the benchmark photos are not available (%s: %v): %s", args[0], err, out)
		}
	}
	files, _ = filepath.Glob(filepath.Join(dir, "x", "usr", "share", "backgrounds", "*.jpg"))
	if len(files) == 0 {
		b.Skip("ukui-wallpapers ships no JPEGs")
	}
	return files
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vipsCPU runs vipsthumbnail for both derivative sizes of file and returns
// the CPU time the runs took.
func vipsCPU(b *testing.B, bin, file, out string) time.Duration {
	var total time.Duration
	for _, size := range []int{photoproc.DefaultScreenSize, photoproc.DefaultThumbSize} {
		cmd := exec.Command(bin, file, "-s", strconv.Itoa(size), "-o", filepath.Join(out, "%s_"+strconv.Itoa(size)+".jpg[Q=82,strip]"))
		if outp, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("vipsthumbnail: %v: %s", err, outp)
		}
		total += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return total
}

// BenchmarkProcessVsVips processes real 3840×2400 photos into the thumbnail
// and screen derivatives, and runs vipsthumbnail on the same files for the
// same sizes in the same run. photos/cpu-s counts photos per second of CPU
// time (so per core); vips_ratio is ours over vipsthumbnail's (target ≥
// 0.5). peak_MB is the most heap one job held above the idle heap.
func BenchmarkProcessVsVips(b *testing.B) {
	files := wallpapers(b)
	vips, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		b.Skip("vipsthumbnail not found (apt-get install -y libvips-tools)")
	}
	data := make([][]byte, len(files))
	for i, f := range files {
		if data[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	out := b.TempDir()
	var ours, theirs time.Duration
	var photos int
	var peak uint64
	b.ResetTimer()
	for range b.N {
		for i, f := range files {
			runtime.GC()
			base := heapBytes()
			stop := samplePeak(&peak, base)
			start := cpuTime()
			if _, err := photoproc.Process(data[i], photoproc.Sizes{}); err != nil {
				b.Fatal(err)
			}
			ours += cpuTime() - start
			stop()
			theirs += vipsCPU(b, vips, f, out)
			photos++
		}
	}
	b.StopTimer()
	oursRate := float64(photos) / ours.Seconds()
	vipsRate := float64(photos) / theirs.Seconds()
	b.ReportMetric(oursRate, "photos/cpu-s")
	b.ReportMetric(vipsRate, "vips_photos/cpu-s")
	b.ReportMetric(oursRate/vipsRate, "vips_ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak_MB")
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// samplePeak records the largest heap above base until the returned
// function is called.
func samplePeak(peak *uint64, base uint64) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := heapBytes(); h > base && h-base > *peak {
				*peak = h - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
