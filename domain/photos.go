package domain

import (
	"bytes"
	"fmt"
	"time"
)

// Photo upload and processing limits. They are the server's rules, whatever
// a client declares.
const (
	// MaxUploadBytes is the largest photo an upload accepts (the same bound
	// photo.create puts on byte_size).
	MaxUploadBytes = 50 << 20
	// MaxPhotoPixels refuses decompression bombs: a source over 50
	// megapixels is not decoded at all (imgproxy's default cap).
	MaxPhotoPixels = 50_000_000
	// SniffLen is how many leading bytes SniffImage needs to tell the types apart.
	SniffLen = 16
	// DefaultUploadTTL is how long an upload without progress is kept.
	DefaultUploadTTL = 24 * time.Hour
	// DefaultOrgUploadQuota bounds the bytes one organization may have in
	// unfinished uploads at once, so one tenant cannot fill the store with
	// parts it never completes.
	DefaultOrgUploadQuota = 2 << 30
)

// The content types an upload accepts, as sniffed from the bytes.
const (
	ContentJPEG = "image/jpeg"
	ContentPNG  = "image/png"
	ContentWebP = "image/webp"
	ContentHEIC = "image/heic"
)

// The failure reasons a photo's processing can end with; they sync to the
// devices, which may show a message or ask the user to retake the photo.
const (
	FailureUnsupportedType = "unsupported_image_type" // the bytes are not JPEG, PNG or WebP
	FailureTooLarge        = "image_too_large"        // over MaxPhotoPixels (or a decompression bomb)
	FailureCorrupt         = "image_corrupt"          // truncated or undecodable
	FailureHashMismatch    = "content_hash_mismatch"  // the bytes do not hash to the declared sha256
)

// SniffImage tells the content type from an image's first bytes (at least
// SniffLen of them, or the whole file if shorter). JPEG, PNG and WebP are
// accepted; HEIC/HEIF and anything else answer CodeUnsupportedImage, whatever
// the file's name or declared type, because a client cannot be trusted to
// label its bytes.
func SniffImage(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return ContentJPEG, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return ContentPNG, nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return ContentWebP, nil
	case isHEIF(head):
		return ContentHEIC, Errorf(CodeUnsupportedImage,
			"HEIC/HEIF photos are not accepted: convert to JPEG on the device (iOS: Settings > Camera > Formats > Most Compatible)")
	}
	return "", Errorf(CodeUnsupportedImage, "the bytes are not a JPEG, PNG or WebP image")
}

// isHEIF recognizes an ISO base media file whose brand is one of the HEIF
// family (HEIC, HEIX, MIF1, MSF1, AVIF is refused as unknown anyway).
func isHEIF(head []byte) bool {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return false
	}
	switch string(head[8:12]) {
	case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
		return true
	}
	return false
}

// CheckPixels refuses a source whose declared dimensions are unusable or
// over MaxPhotoPixels, before any pixel is decoded.
func CheckPixels(width, height int) error {
	if width <= 0 || height <= 0 {
		return Errorf(CodeUnsupportedImage, "the image declares no dimensions")
	}
	if int64(width)*int64(height) > MaxPhotoPixels {
		return Errorf(CodeImageTooLarge, "the image is %dx%d, over the %d megapixel limit",
			width, height, MaxPhotoPixels/1_000_000)
	}
	return nil
}

// Upload is one resumable (tus) upload of a photo's bytes. Its state lives
// in the database and its bytes in the blob store, so any server replica can
// take the next request.
type Upload struct {
	ID      string
	OrgID   string
	PhotoID string
	UserID  string // who created it
	Length  int64  // the declared total (Upload-Length)
	Offset  int64  // bytes received and stored
	SHA256  string // the photo's declared content hash (hex)
	// MultipartID and Chunks are the multipart upload of the photo's
	// original: the full-size parts received so far, bytes [0, sum of
	// their sizes). Parts (the tail) holds the bytes received after them,
	// less than one part, as plain objects until a part is full.
	MultipartID string
	Chunks      []MultipartPart
	Parts       []UploadPart
	HashState   []byte // the running SHA-256 over bytes [0, Offset), marshaled
	Content     string // the sniffed content type, once known
	Complete    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
}

// UploadPart is one stored run of an upload's bytes.
type UploadPart struct {
	Key    string `json:"k"`
	Offset int64  `json:"o"`
	Size   int64  `json:"s"`
}

// UploadPrefix is where an upload's parts live in the blob store.
func UploadPrefix(orgID, uploadID string) string {
	return fmt.Sprintf("uploads/%s/%s/", orgID, uploadID)
}

// OriginalKey is the one object holding an organization's photo bytes with
// the given content hash: equal bytes are stored once (deduplication), and a
// hash known to another organization names nothing of this one.
func OriginalKey(orgID, sha256hex string) string {
	return fmt.Sprintf("photos/%s/%s/original", orgID, sha256hex)
}

// DerivativeKey is where a derivative (thumb, screen) of the original with
// the given hash lives.
func DerivativeKey(orgID, sha256hex, variant string) string {
	return fmt.Sprintf("photos/%s/%s/%s.jpg", orgID, sha256hex, variant)
}

// PhotoObjectsPrefix is the prefix of every photo object of an organization.
func PhotoObjectsPrefix(orgID string) string { return "photos/" + orgID + "/" }
