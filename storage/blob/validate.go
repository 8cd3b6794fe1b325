package blob

import (
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/iswitchroofs/fieldsync/domain"
)

const (
	maxKeyLen          = 1024 // S3's limit
	maxSegmentLen      = 255  // a file name's limit on common file systems
	maxContentTypeLen  = 255
	defaultContentType = "application/octet-stream"
)

// checkKey refuses keys that could escape a store's namespace or that one of
// the backends could not hold.
func checkKey(key string) error {
	if key == "" {
		return invalid("key", "must not be empty")
	}
	return checkPath("key", key, false)
}

// checkPrefix applies the key rules to a List prefix, whose last segment may
// be partial or empty ("a/" lists the folder a, "a/ph" the keys in it that
// start with "ph").
func checkPrefix(prefix string) error {
	return checkPath("prefix", prefix, true)
}

func checkPath(field, s string, partialLast bool) error {
	if len(s) > maxKeyLen {
		return invalid(field, "must be at most 1024 bytes")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "must not contain control characters")
		}
		if r == '\\' {
			return invalid(field, "must not contain backslashes")
		}
	}
	if strings.HasPrefix(s, "/") {
		return invalid(field, "must be relative (no leading slash)")
	}
	segments := strings.Split(s, "/")
	for i, seg := range segments {
		switch {
		case seg == "" && !(partialLast && i == len(segments)-1):
			return invalid(field, "must not contain empty segments")
		case seg == "." || seg == "..":
			return invalid(field, `must not contain "." or ".." segments`)
		case len(seg) > maxSegmentLen:
			return invalid(field, "segments must be at most 255 bytes")
		}
	}
	return nil
}

// checkContentType returns the content type to store. It refuses what could
// not travel in an HTTP header, because MinIO keeps it as one.
func checkContentType(ct string) (string, error) {
	if ct == "" {
		return defaultContentType, nil
	}
	if len(ct) > maxContentTypeLen {
		return "", invalid("content_type", "must be at most 255 bytes")
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return "", invalid("content_type", "must be printable ASCII")
		}
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return "", invalid("content_type", "must be a media type such as image/jpeg")
	}
	return ct, nil
}

// checkPut validates what every Put gets before it reads the body.
func checkPut(key string, size int64, contentType string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if size < -1 {
		return "", invalid("size", "must be -1 (unknown) or at least 0")
	}
	return checkContentType(contentType)
}

func invalid(field, message string) error {
	return domain.Invalid(domain.FieldError{Field: field, Message: message})
}
