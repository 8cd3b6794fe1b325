package domain

import (
	"bytes"
	"encoding/binary"
	"errors"
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
	ScanState   []byte // the ImageScan over bytes [0, Offset), marshaled
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

// ImageScan checks an image's structure as its bytes stream past, without
// decoding a pixel, so that a photo truncated on the phone (a camera app
// killed while writing) is refused when its upload ends rather than found
// at processing. A JPEG must reach its end-of-image marker after image data
// (bytes after the marker are allowed: phones append their own data there),
// a PNG its IEND chunk, and a WebP must hold the bytes its RIFF header
// declares. The segment and chunk lengths are followed and the image data
// is scanned only for markers, so the cost is a memory scan. The state
// marshals to a few bytes, so an upload spread over requests and replicas
// carries it along like its running hash. The zero value is ready to use.
type ImageScan struct {
	format byte     // 0 until the first bytes are seen, then one of the scan* formats
	state  byte     // where in the format's structure the next byte falls
	marker byte     // the JPEG segment being read
	hlen   byte     // bytes held in head
	head   [12]byte // the first bytes, then a PNG chunk header being read
	skip   int64    // bytes left of the segment or chunk being passed over
	seen   int64    // bytes written
	riff   int64    // a WebP's declared size, RIFF header included
	scans  uint32   // JPEG scans (SOS segments) started
	bad    byte     // why the structure is broken (a bad* value); sticky
}

// The formats ImageScan tells apart; scanSkipped is one it does not check
// (not an image it accepts, or a scan resumed without its state).
const (
	scanUnknown byte = iota
	scanJPEG
	scanPNG
	scanWebP
	scanSkipped
)

// The scan's states.
const (
	stMarker    byte = iota // JPEG: between segments, a marker comes next
	stMarkerFF              // JPEG: after a marker's 0xFF
	stLen0                  // JPEG: a segment's length, first byte
	stLen1                  // JPEG: its second byte
	stSkip                  // JPEG and PNG: inside a segment or chunk
	stEntropy               // JPEG: image data
	stEntropyFF             // JPEG: after 0xFF in image data
	stChunk                 // PNG: a chunk header is being read
	stDone                  // the end was reached; later bytes are trailing data
)

// Why a structure is broken.
const (
	badNone byte = iota
	badSegmentLength
	badNoImageData
	badChunkLength
	badRIFFLength
)

const segSOS = 0xDA // JPEG start of scan

// scanStateVersion leads the marshaled state, so that a future layout
// can tell an old one apart.
const scanStateVersion = 1

// Write feeds the next bytes of the image. It never fails: a broken
// structure is reported by Check.
func (s *ImageScan) Write(p []byte) (int, error) {
	n := len(p)
	s.seen += int64(n)
	if s.format == scanUnknown {
		k := copy(s.head[s.hlen:], p)
		s.hlen += byte(k)
		p = p[k:]
		if int(s.hlen) < len(s.head) {
			return n, nil
		}
		s.detect()
		first := s.head // the bytes after the signature are the structure's first
		switch s.format {
		case scanJPEG:
			s.jpeg(first[2:])
		case scanPNG:
			s.hlen = 0
			s.png(first[8:])
		}
	}
	switch {
	case s.bad != badNone || s.state == stDone:
	case s.format == scanJPEG:
		s.jpeg(p)
	case s.format == scanPNG:
		s.png(p)
	}
	return n, nil
}

// detect tells the format from the first len(head) bytes.
func (s *ImageScan) detect() {
	h := s.head[:s.hlen]
	switch {
	case bytes.HasPrefix(h, []byte{0xFF, 0xD8, 0xFF}):
		s.format, s.state = scanJPEG, stMarker
	case bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")):
		s.format, s.state = scanPNG, stChunk
	case len(h) >= 12 && string(h[0:4]) == "RIFF" && string(h[8:12]) == "WEBP":
		s.format = scanWebP
		s.riff = int64(binary.LittleEndian.Uint32(h[4:8])) + 8
		if s.riff < 12 {
			s.bad = badRIFFLength
		}
	default:
		s.format = scanSkipped
	}
}

// jpeg follows the segment structure: every segment up to a scan declares
// its length; a scan's image data can hold 0xFF only as 0xFF00 (a stuffed
// byte) or a restart marker, so the next other marker ends it. Bytes out of
// place between segments are passed over, as libjpeg and Go's decoder do.
func (s *ImageScan) jpeg(p []byte) {
	for len(p) > 0 && s.bad == badNone && s.state != stDone {
		switch s.state {
		case stSkip:
			if int64(len(p)) < s.skip {
				s.skip -= int64(len(p))
				return
			}
			p = p[s.skip:]
			s.skip = 0
			s.state = stMarker
			if s.marker == segSOS {
				s.state = stEntropy
			}
		case stEntropy, stMarker:
			i := bytes.IndexByte(p, 0xFF)
			if i < 0 {
				return
			}
			p = p[i+1:]
			if s.state == stEntropy {
				s.state = stEntropyFF
			} else {
				s.state = stMarkerFF
			}
		case stEntropyFF:
			b := p[0]
			p = p[1:]
			switch {
			case b == 0xFF: // fill byte: the marker follows
			case b == 0x00 || b >= 0xD0 && b <= 0xD7 || b == 0x01:
				s.state = stEntropy // a stuffed byte, a restart marker
			default:
				s.marked(b)
			}
		case stMarkerFF:
			b := p[0]
			p = p[1:]
			switch {
			case b == 0xFF:
			case b == 0x00 || b == 0xD8 || b >= 0xD0 && b <= 0xD7 || b == 0x01:
				s.state = stMarker // standalone markers, or stray bytes
			default:
				s.marked(b)
			}
		case stLen0:
			s.skip = int64(p[0]) << 8
			p = p[1:]
			s.state = stLen1
		case stLen1:
			s.skip |= int64(p[0])
			p = p[1:]
			if s.skip < 2 {
				s.bad = badSegmentLength
				return
			}
			s.skip -= 2
			s.state = stSkip
			if s.marker == segSOS {
				s.scans++
			}
		}
	}
}

// marked handles a JPEG marker that ends or begins a segment.
func (s *ImageScan) marked(b byte) {
	if b == 0xD9 { // end of image
		if s.scans == 0 {
			s.bad = badNoImageData
			return
		}
		s.state = stDone
		return
	}
	s.marker, s.state = b, stLen0
}

// png follows the chunk lengths to the IEND chunk.
func (s *ImageScan) png(p []byte) {
	for len(p) > 0 && s.bad == badNone && s.state != stDone {
		if s.state == stSkip {
			if int64(len(p)) < s.skip {
				s.skip -= int64(len(p))
				return
			}
			p = p[s.skip:]
			s.skip = 0
			s.state = stChunk
			if s.marker == 1 { // the IEND chunk, its CRC included, is complete
				s.state = stDone
			}
			continue
		}
		k := copy(s.head[s.hlen:8], p)
		s.hlen += byte(k)
		p = p[k:]
		if s.hlen < 8 {
			return
		}
		s.hlen = 0
		n := binary.BigEndian.Uint32(s.head[0:4])
		if n > 1<<31-1 {
			s.bad = badChunkLength
			return
		}
		s.skip = int64(n) + 4 // the data and its CRC
		s.marker = 0
		if string(s.head[4:8]) == "IEND" {
			s.marker = 1
		}
		s.state = stSkip
	}
}

// Check reports whether the bytes written so far are a whole image of a
// format the scan knows: nil if so (or if the format is one it does not
// check), CodeImageCorrupt with what is wrong if not.
func (s *ImageScan) Check() error {
	switch s.bad {
	case badSegmentLength:
		return Errorf(CodeImageCorrupt, "the JPEG has a segment with an impossible length: the file is damaged")
	case badNoImageData:
		return Errorf(CodeImageCorrupt, "the JPEG ends before any image data: the file is damaged")
	case badChunkLength:
		return Errorf(CodeImageCorrupt, "the PNG has a chunk with an impossible length: the file is damaged")
	case badRIFFLength:
		return Errorf(CodeImageCorrupt, "the WebP declares an impossible size: the file is damaged")
	}
	switch s.format {
	case scanUnknown:
		return Errorf(CodeImageCorrupt, "the file is too short to be an image")
	case scanJPEG:
		if s.state != stDone {
			return Errorf(CodeImageCorrupt, "the JPEG ends before its end-of-image marker: the file is truncated; send the whole photo")
		}
	case scanPNG:
		if s.state != stDone {
			return Errorf(CodeImageCorrupt, "the PNG ends before its IEND chunk: the file is truncated; send the whole photo")
		}
	case scanWebP:
		if s.seen < s.riff {
			return Errorf(CodeImageCorrupt, "the WebP holds %d of the %d bytes its header declares: the file is truncated; send the whole photo", s.seen, s.riff)
		}
	}
	return nil
}

// Skip gives up checking: the scan of an upload whose earlier bytes were
// not fed to it (its state was not kept) cannot tell anything.
func (s *ImageScan) Skip() { s.format = scanSkipped }

// MarshalBinary implements encoding.BinaryMarshaler.
func (s *ImageScan) MarshalBinary() ([]byte, error) {
	b := []byte{scanStateVersion, s.format, s.state, s.marker, s.hlen, s.bad}
	b = append(b, s.head[:]...)
	b = binary.AppendVarint(b, s.skip)
	b = binary.AppendVarint(b, s.seen)
	b = binary.AppendVarint(b, s.riff)
	b = binary.AppendUvarint(b, uint64(s.scans))
	return b, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (s *ImageScan) UnmarshalBinary(b []byte) error {
	errBad := errors.New("domain: malformed image scan state")
	if len(b) < 6+len(s.head) || b[0] != scanStateVersion {
		return errBad
	}
	var t ImageScan
	t.format, t.state, t.marker, t.hlen, t.bad = b[1], b[2], b[3], b[4], b[5]
	copy(t.head[:], b[6:])
	b = b[6+len(t.head):]
	var ints [3]int64
	for i := range ints {
		v, n := binary.Varint(b)
		if n <= 0 {
			return errBad
		}
		ints[i], b = v, b[n:]
	}
	scans, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || scans > 1<<32-1 || int(t.hlen) > len(t.head) || t.format > scanSkipped || t.state > stDone {
		return errBad
	}
	t.skip, t.seen, t.riff, t.scans = ints[0], ints[1], ints[2], uint32(scans)
	*s = t
	return nil
}
