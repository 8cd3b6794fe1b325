package domain_test

import (
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
