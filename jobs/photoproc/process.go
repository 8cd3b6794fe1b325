// Package photoproc makes a job photo's derivatives once its bytes are
// uploaded: the asynq task the upload enqueues through the outbox
// (domain.PhotoProcessTask), and the housekeeping that removes abandoned
// uploads and objects no photo references.
//
// Processing checks the declared dimensions before decoding a pixel
// (refusing decompression bombs and anything over domain.MaxPhotoPixels),
// applies the EXIF orientation, and writes a thumbnail and a screen-size
// JPEG re-encoded from pixels, so no metadata (GPS, camera serial) survives
// in them. The photo record is updated through the one write path, so its
// processing state and dimensions reach every device in scope.
package photoproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the decoders the upload accepts
	_ "image/png"
	"io"
	"log/slog"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp"

	"github.com/iswitchroofs/fieldsync/domain"
)

// The derivative sizes: the longest side of each, in pixels.
const (
	DefaultThumbSize  = 320
	DefaultScreenSize = 1600
	jpegQuality       = 82
)

// Derivative is one encoded derivative.
type Derivative struct {
	Variant string // "thumb" or "screen"
	JPEG    []byte
}

// Result is what processing made of an original.
type Result struct {
	Width, Height int // of the oriented original
	Derivatives   []Derivative
}

// PermanentError is a failure no retry can fix (the bytes are bad); Reason
// is one of the domain.Failure* reasons a photo records.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap exposes the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Sizes are the longest sides of the derivatives.
type Sizes struct {
	Thumb  int
	Screen int
}

func (s Sizes) orDefault() Sizes {
	if s.Thumb <= 0 {
		s.Thumb = DefaultThumbSize
	}
	if s.Screen <= 0 {
		s.Screen = DefaultScreenSize
	}
	return s
}

// Process makes the derivatives of the image in data. Errors are
// *PermanentError: the bytes are the problem.
func Process(data []byte, sizes Sizes) (*Result, error) {
	sizes = sizes.orDefault()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, &PermanentError{domain.FailureUnsupportedType, err}
		}
		return nil, &PermanentError{domain.FailureCorrupt, err}
	}
	switch format {
	case "jpeg", "png", "webp":
	default: // other decoders linked into the binary (gif) are not for photos
		return nil, &PermanentError{domain.FailureUnsupportedType, fmt.Errorf("format %s", format)}
	}
	if err := domain.CheckPixels(cfg.Width, cfg.Height); err != nil {
		reason := domain.FailureTooLarge
		if !domain.IsCode(err, domain.CodeImageTooLarge) {
			reason = domain.FailureCorrupt
		}
		return nil, &PermanentError{reason, err}
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, &PermanentError{domain.FailureCorrupt, err}
	}
	b := img.Bounds()
	res := &Result{Width: b.Dx(), Height: b.Dy()}
	// The thumbnail is made from the screen image rather than the original:
	// a quarter of the pixels to filter, and no visible difference at 320 px.
	screen := fit(img, sizes.Screen)
	thumb := fit(screen, sizes.Thumb)
	for _, d := range []struct {
		variant string
		img     image.Image
	}{{"screen", screen}, {"thumb", thumb}} {
		var buf bytes.Buffer
		if err := imaging.Encode(&buf, d.img, imaging.JPEG, imaging.JPEGQuality(jpegQuality)); err != nil {
			return nil, &PermanentError{domain.FailureCorrupt, err}
		}
		res.Derivatives = append(res.Derivatives, Derivative{Variant: d.variant, JPEG: buf.Bytes()})
	}
	return res, nil
}

// fit scales img down so its longest side is at most size; a smaller image
// is kept as it is (never enlarged).
func fit(img image.Image, size int) image.Image {
	b := img.Bounds()
	if b.Dx() <= size && b.Dy() <= size {
		return img
	}
	// Linear is a tent filter: for downscaling it is close to Lanczos in
	// look at a fraction of the cost.
	return imaging.Fit(img, size, size, imaging.Linear)
}

// readOriginal reads at most max bytes of the object at key.
func readOriginal(ctx context.Context, blobs domain.BlobStore, key string, max int64) ([]byte, error) {
	rc, info, err := blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if info.Size > max {
		return nil, &PermanentError{domain.FailureTooLarge, fmt.Errorf("original is %d bytes", info.Size)}
	}
	data := make([]byte, 0, info.Size)
	buf := bytes.NewBuffer(data)
	if _, err := io.Copy(buf, io.LimitReader(rc, max+1)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// logAttrs are the attributes of a photo's log lines (ids only: no PII).
func logAttrs(p domain.PhotoProcessPayload) []any {
	return []any{slog.String("org_id", p.OrgID), slog.String("photo_id", p.PhotoID)}
}
