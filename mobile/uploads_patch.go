package mobile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"image"
	_ "image/jpeg" // the decoders admit reads headers with
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	_ "golang.org/x/image/webp"

	"github.com/iswitchroofs/fieldsync/domain"
)

// patch is tus core's PATCH with the checksum extension. The body streams
// through a buffer of PartSize bytes; each full buffer (and the rest at the
// end) is stored as one part in the blob store, so memory per request is
// bounded whatever the body's size. A body cut short keeps the bytes that
// arrived, unless Upload-Checksum was sent (they cannot be verified then).
// The offset moves on in the database only after the parts are stored.
func (u *uploads) patch(c *fiber.Ctx) error {
	if mt, _, _ := strings.Cut(c.Get(fiber.HeaderContentType), ";"); strings.TrimSpace(mt) != tusContentType {
		return domain.Errorf(domain.CodeUnsupportedMedia, "send the bytes as %s", tusContentType)
	}
	offset, err := strconv.ParseInt(c.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		return domain.Errorf(domain.CodeMalformedRequest, "Upload-Offset must be a non-negative integer")
	}
	want, err := parseChecksum(c.Get("Upload-Checksum"))
	if err != nil {
		return err
	}
	p, up, err := u.loadUpload(c)
	if err != nil {
		return err
	}
	return u.receive(c, p, up, offset, want)
}

// receive takes a body of bytes at offset into the upload (PATCH, and
// POST with the creation-with-upload extension) and answers 204 with the
// new offset.
func (u *uploads) receive(c *fiber.Ctx, p domain.Principal, up *domain.Upload, offset int64, want []byte) error {
	if up.Complete {
		// Deduplicated, or a retry of the request whose answer was lost:
		// the bytes are all here, so the body is not needed.
		u.offsetHeaders(c, up)
		c.Set(fiber.HeaderConnection, "close")
		return c.SendStatus(http.StatusNoContent)
	}
	if offset != up.Offset {
		u.offsetHeaders(c, up)
		return domain.Errorf(domain.CodeOffsetMismatch,
			"Upload-Offset is %d but the upload is at %d; resume from there", offset, up.Offset)
	}
	remaining := up.Length - up.Offset
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > remaining {
		return domain.Errorf(domain.CodePayloadTooLarge, "the body is %d bytes but only %d are left of Upload-Length", cl, remaining)
	}
	ctx := c.UserContext()
	running, err := restoreHash(up.HashState)
	if err != nil {
		return err
	}
	var reqHash hash.Hash
	if want != nil {
		reqHash = sha256.New()
	}
	if u.Multipart != nil {
		return u.patchMultipart(c, p, up, want, running, reqHash)
	}
	scan, err := restoreScan(up)
	if err != nil {
		return err
	}

	buf := u.buffer()
	defer u.release(buf)
	body := io.LimitReader(u.bodyReader(c), remaining+1)
	from, pos, content := up.Offset, up.Offset, up.Content
	var added []domain.UploadPart
	var broken error
	for {
		n, rerr := io.ReadFull(body, buf)
		chunk := buf[:n]
		if pos+int64(n) > up.Length {
			u.dropParts(ctx, added)
			return domain.Errorf(domain.CodePayloadTooLarge, "the body is longer than what is left of Upload-Length")
		}
		if n > 0 && content == "" {
			if int64(n) < min(domain.SniffLen, up.Length) {
				// Too few bytes to tell the type (the connection broke):
				// keep none, the client resends them.
				broken = errors.Join(rerr, io.ErrUnexpectedEOF)
				break
			}
			ct, reason, serr := admit(chunk)
			if serr != nil {
				return u.refuse(ctx, p, up, reason, serr)
			}
			content = ct
		}
		if n > 0 {
			key := partKey(up, pos)
			if _, err := u.Blobs.Put(ctx, key, bytes.NewReader(chunk), int64(n), "application/octet-stream"); err != nil {
				u.dropParts(ctx, added)
				return err
			}
			running.Write(chunk)
			_, _ = scan.Write(chunk)
			if reqHash != nil {
				reqHash.Write(chunk)
			}
			added = append(added, domain.UploadPart{Key: key, Offset: pos, Size: int64(n)})
			pos += int64(n)
		}
		if rerr == nil {
			continue
		}
		if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			broken = rerr
		}
		break
	}
	if reqHash != nil {
		if broken != nil {
			u.dropParts(ctx, added)
			return domain.WrapError(domain.CodeMalformedRequest, broken, "the body ended early; its checksum cannot be verified")
		}
		if subtle.ConstantTimeCompare(reqHash.Sum(nil), want) != 1 {
			u.dropParts(ctx, added)
			u.offsetHeaders(c, up)
			return domain.Errorf(domain.CodeChecksumMismatch, "the body does not match Upload-Checksum; resend it from offset %d", up.Offset)
		}
	}
	if len(added) > 0 {
		up.Parts = append(up.Parts, added...)
		up.Offset, up.Content = pos, content
		if err := u.advance(ctx, p, up, from, running, scan, added); err != nil {
			return err
		}
	}
	if up.Offset == up.Length {
		if err := u.finish(ctx, p, up); err != nil {
			return err
		}
	}
	if broken != nil {
		u.log.DebugContext(ctx, "upload body cut short", slog.String("upload_id", up.ID), slog.Int64("offset", up.Offset))
	}
	u.offsetHeaders(c, up)
	return c.SendStatus(http.StatusNoContent)
}

// advance records what a PATCH stored (up holds its new offset, parts and
// content) with the running hash and image scan, if no other request moved
// the upload on meanwhile; otherwise the parts it added are dropped. An
// upload that starts here and does not end here shows as uploading on
// devices (one that ends here goes straight to uploaded).
func (u *uploads) advance(ctx context.Context, p domain.Principal, up *domain.Upload, from int64, running hash.Hash, scan *domain.ImageScan, added []domain.UploadPart) error {
	up.HashState = marshalHash(running)
	up.ScanState = marshalScan(scan)
	up.ExpiresAt = u.Clock.Now().Add(u.TTL)
	if err := u.Uploads.AdvanceUpload(ctx, up, from); err != nil {
		u.dropParts(ctx, added)
		return err
	}
	if from == 0 && up.Offset < up.Length {
		if err := u.setUploadState(ctx, p, up.PhotoID, domain.UploadPending, domain.UploadPartial); err != nil {
			u.log.WarnContext(ctx, "marking a photo as uploading failed", slog.String("photo_id", up.PhotoID), slog.String("error", err.Error()))
		}
	}
	return nil
}

// admit judges an upload by its first bytes, before any is stored: the
// type must be one we take (sniffed from the bytes), and the image's header
// must not declare more than domain.MaxPhotoPixels, so a decompression bomb
// (a small file that would decode to gigabytes) is refused here and leaves
// nothing behind. A header the first bytes do not reach is left to the
// processing job, which checks it again before decoding. The reason is the
// photo's failure_reason when refused.
func admit(first []byte) (content, reason string, err error) {
	ct, err := domain.SniffImage(first)
	if err != nil {
		return "", domain.FailureUnsupportedType, err
	}
	if cfg, _, derr := image.DecodeConfig(bytes.NewReader(first)); derr == nil {
		if err := domain.CheckPixels(cfg.Width, cfg.Height); err != nil {
			return "", domain.FailureTooLarge, err
		}
	}
	return ct, "", nil
}

// parseChecksum reads "sha256 <base64 digest>"; an empty header is no checksum.
func parseChecksum(h string) ([]byte, error) {
	if h == "" {
		return nil, nil
	}
	algo, b64, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(algo, tusChecksumAlgo) {
		return nil, domain.Errorf(domain.CodeChecksumAlgorithm, "Upload-Checksum must use sha256")
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(sum) != sha256.Size {
		return nil, domain.Errorf(domain.CodeMalformedRequest, "Upload-Checksum must be: sha256 <base64 of the 32-byte digest>")
	}
	return sum, nil
}

// dropParts deletes parts a failed request stored; a failure leaves them to
// housekeeping, which removes the upload's whole prefix.
func (u *uploads) dropParts(ctx context.Context, parts []domain.UploadPart) {
	for _, part := range parts {
		if err := u.Blobs.Delete(ctx, part.Key); err != nil {
			u.log.WarnContext(ctx, "removing an upload part failed", slog.String("error", err.Error()))
		}
	}
}

// buffer takes a part buffer from a small free list, so a busy server does
// not allocate PartSize bytes per request.
func (u *uploads) buffer() []byte {
	select {
	case b := <-u.buffers:
		return b
	default:
		return make([]byte, u.PartSize)
	}
}

func (u *uploads) release(b []byte) {
	select {
	case u.buffers <- b:
	default:
	}
}

// bodyReader streams the request body. Each read renews the connection's
// read deadline, so a slow but moving phone is not cut off by the server's
// overall ReadTimeout while a stalled one still is.
func (u *uploads) bodyReader(c *fiber.Ctx) io.Reader {
	var r io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	} else {
		r = bytes.NewReader(c.Body())
	}
	conn := c.Context().Conn()
	if conn == nil {
		return r
	}
	return readFunc(func(p []byte) (int, error) {
		_ = conn.SetReadDeadline(time.Now().Add(u.ReadIdle))
		return r.Read(p)
	})
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
