package domain_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
)

func TestSniffImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, head string
		want       string
		code       domain.Code
	}{
		{"jpeg", "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00", domain.ContentJPEG, ""},
		{"png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", domain.ContentPNG, ""},
		{"webp", "RIFF\x24\x00\x00\x00WEBPVP8 ", domain.ContentWebP, ""},
		{"heic", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", domain.ContentHEIC, domain.CodeUnsupportedImage},
		{"heif mif1", "\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", domain.ContentHEIC, domain.CodeUnsupportedImage},
		{"mp4 is not heif", "\x00\x00\x00\x18ftypisom\x00\x00\x00\x00", "", domain.CodeUnsupportedImage},
		{"riff wave", "RIFF\x24\x00\x00\x00WAVEfmt ", "", domain.CodeUnsupportedImage},
		{"gif", "GIF89a\x01\x00\x01\x00\x00\x00", "", domain.CodeUnsupportedImage},
		{"html", "<!doctype html><html>", "", domain.CodeUnsupportedImage},
		{"empty", "", "", domain.CodeUnsupportedImage},
		{"two bytes of jpeg", "\xFF\xD8", "", domain.CodeUnsupportedImage},
	} {
		got, err := domain.SniffImage([]byte(tc.head))
		if got != tc.want || domain.ErrorCode(err) != tc.code {
			t.Errorf("%s: got %q, %v; want %q, code %q", tc.name, got, err, tc.want, tc.code)
		}
	}
	_, err := domain.SniffImage([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"))
	if !strings.Contains(domain.ErrorMessage(err), "JPEG") {
		t.Errorf("the HEIC refusal does not say what to do: %q", domain.ErrorMessage(err))
	}
}

func TestCheckPixels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w, h int
		code domain.Code
	}{
		{4000, 3000, ""},
		{10_000, 5_000, ""},
		{10_001, 5_000, domain.CodeImageTooLarge},
		{100_000, 100_000, domain.CodeImageTooLarge},
		{1 << 30, 1 << 30, domain.CodeImageTooLarge},
		{0, 100, domain.CodeUnsupportedImage},
		{-1, 100, domain.CodeUnsupportedImage},
	} {
		if got := domain.ErrorCode(domain.CheckPixels(tc.w, tc.h)); got != tc.code {
			t.Errorf("%dx%d: code %q, want %q", tc.w, tc.h, got, tc.code)
		}
	}
}

func TestPhotoKeysStayInTheirOrganization(t *testing.T) {
	t.Parallel()
	a := domain.OriginalKey("org-a", "ab12")
	if !strings.HasPrefix(a, domain.PhotoObjectsPrefix("org-a")) || strings.HasPrefix(a, domain.PhotoObjectsPrefix("org-b")) {
		t.Errorf("original key %q is outside its organization's prefix", a)
	}
	if d := domain.DerivativeKey("org-a", "ab12", "thumb"); !strings.HasPrefix(d, strings.TrimSuffix(a, "original")) {
		t.Errorf("derivative %q does not sit beside its original %q", d, a)
	}
}

// FuzzSniffImage: any bytes get a type or the unsupported code, never a panic.
func FuzzSniffImage(f *testing.F) {
	f.Add([]byte("\xFF\xD8\xFF"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBP"))
	f.Add([]byte("\x00\x00\x00\x18ftypheic"))
	f.Fuzz(func(t *testing.T, head []byte) {
		ct, err := domain.SniffImage(head)
		if err != nil && domain.ErrorCode(err) != domain.CodeUnsupportedImage {
			t.Fatalf("code %q", domain.ErrorCode(err))
		}
		if err == nil && ct != domain.ContentJPEG && ct != domain.ContentPNG && ct != domain.ContentWebP {
			t.Fatalf("accepted type %q", ct)
		}
	})
}

// sampleImage draws a small noisy image, so its compressed data is not trivial.
func sampleImage() image.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.IntN(256))
	}
	img.Set(0, 0, color.RGBA{255, 255, 255, 255})
	return img
}

func encodedJPEG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, sampleImage(), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodedPNG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, sampleImage()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// progressiveJPEG is the segment structure of a progressive JPEG: several
// scans with tables between them, image data with stuffed bytes and
// restart markers, and an EXIF segment holding a whole thumbnail JPEG
// (whose own end marker must not end the scan).
func progressiveJPEG() []byte {
	seg := func(marker byte, body []byte) []byte {
		out := []byte{0xFF, marker, 0, 0}
		binary.BigEndian.PutUint16(out[2:], uint16(len(body)+2))
		return append(out, body...)
	}
	thumb := []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x11, 0xFF, 0xD9}
	data := []byte{0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD1, 0x78}
	var b []byte
	b = append(b, 0xFF, 0xD8)
	b = append(b, seg(0xE1, append([]byte("Exif\x00\x00"), thumb...))...)
	b = append(b, seg(0xDB, bytes.Repeat([]byte{0xD9}, 65))...) // table bytes that look like markers
	b = append(b, seg(0xC2, make([]byte, 15))...)
	for range 3 {
		b = append(b, seg(0xC4, []byte{0x00, 0xFF, 0xD9})...)
		b = append(b, seg(0xDA, make([]byte, 8))...)
		b = append(b, data...)
	}
	return append(b, 0xFF, 0xD9)
}

func webp(declared, actual int) []byte {
	b := make([]byte, actual)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(declared-8))
	copy(b[8:], "WEBPVP8 ")
	return b
}

func scan(b []byte) error {
	var s domain.ImageScan
	_, _ = s.Write(b)
	return s.Check()
}

// A whole image passes, with data after its end too (phones append their
// own); every truncation of it is refused with image_corrupt.
func TestImageScanFindsTruncation(t *testing.T) {
	t.Parallel()
	trailer := []byte("\x00\x00SEFH trailing data \xFF\xD8\xFF\xE0")
	for name, img := range map[string][]byte{
		"jpeg": encodedJPEG(t), "progressive jpeg": progressiveJPEG(), "png": encodedPNG(t),
	} {
		if err := scan(img); err != nil {
			t.Errorf("%s: whole image refused: %v", name, err)
		}
		if err := scan(append(append([]byte{}, img...), trailer...)); err != nil {
			t.Errorf("%s: image with trailing data refused: %v", name, err)
		}
		for n := range len(img) - 1 {
			if n > 300 && n < len(img)-300 && n%97 != 0 {
				continue // the ends are where the structure is; the middle is sampled
			}
			if code := domain.ErrorCode(scan(img[:n])); code != domain.CodeImageCorrupt {
				t.Fatalf("%s cut to %d of %d bytes: code %q, want %s", name, n, len(img), code, domain.CodeImageCorrupt)
			}
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		code domain.Code
	}{
		{"webp whole", webp(4000, 4000), ""},
		{"webp with trailing data", webp(4000, 4100), ""},
		{"webp truncated", webp(4000, 3999), domain.CodeImageCorrupt},
		{"webp declaring less than its header", webp(10, 100), domain.CodeImageCorrupt},
		{"jpeg ending before any scan", []byte("\xFF\xD8\xFF\xE0\x00\x04ab\xFF\xD9"), domain.CodeImageCorrupt},
		{"jpeg segment length under 2", []byte("\xFF\xD8\xFF\xE0\x00\x01abcdefgh\xFF\xD9"), domain.CodeImageCorrupt},
		{"png chunk over 2^31", append([]byte("\x89PNG\r\n\x1a\n\xFF\xFF\xFF\xFFIHDR"), make([]byte, 30)...), domain.CodeImageCorrupt},
		{"too short", []byte("\xFF\xD8\xFF"), domain.CodeImageCorrupt},
		{"not an image it checks", []byte("GIF89a and so on, long enough"), ""},
	} {
		if code := domain.ErrorCode(scan(tc.data)); code != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, code, tc.code)
		}
	}
}

// The bytes may arrive in any pieces, with the state marshaled and
// restored between them (another request, another replica): the answer is
// the same as for one piece.
func TestImageScanInPieces(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, img := range [][]byte{encodedJPEG(t), progressiveJPEG(), encodedPNG(t), webp(300, 320)} {
		for cut := range []int{0, 1, 2} {
			data := img
			if cut == 1 {
				data = img[:len(img)-1]
			}
			want := domain.ErrorCode(scan(data))
			for range 20 {
				var s domain.ImageScan
				for rest := data; len(rest) > 0; {
					n := 1 + rng.IntN(min(len(rest), 1+rng.IntN(40)))
					_, _ = s.Write(rest[:n])
					rest = rest[n:]
					state, err := s.MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					s = domain.ImageScan{}
					if err := s.UnmarshalBinary(state); err != nil {
						t.Fatal(err)
					}
				}
				if got := domain.ErrorCode(s.Check()); got != want {
					t.Fatalf("in pieces: code %q, in one piece %q", got, want)
				}
			}
		}
	}
	var s domain.ImageScan
	for _, bad := range [][]byte{nil, {9}, {1, 2, 3}, append([]byte{1}, make([]byte, 30)...)} {
		if err := s.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%x) accepted", bad)
		}
	}
}

// FuzzImageScan: any bytes, in any two pieces with the state marshaled
// between, get the answer of one piece, and never a panic.
func FuzzImageScan(f *testing.F) {
	f.Add(encodedJPEG(f), 100)
	f.Add(progressiveJPEG(), 40)
	f.Add(encodedPNG(f), 33)
	f.Add(webp(64, 70), 5)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		err := scan(data)
		if err != nil && domain.ErrorCode(err) != domain.CodeImageCorrupt {
			t.Fatalf("code %q", domain.ErrorCode(err))
		}
		if cut < 0 || cut > len(data) {
			return
		}
		var s domain.ImageScan
		_, _ = s.Write(data[:cut])
		state, _ := s.MarshalBinary()
		var r domain.ImageScan
		if err := r.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
		_, _ = r.Write(data[cut:])
		if got := domain.ErrorCode(r.Check()); got != domain.ErrorCode(err) {
			t.Fatalf("in two pieces at %d: %q, in one: %q", cut, got, domain.ErrorCode(err))
		}
	})
}
