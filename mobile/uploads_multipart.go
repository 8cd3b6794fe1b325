package mobile

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"hash"
	"io"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// patchMultipart is PATCH on a store that takes multipart uploads: the
// bytes go, PartSize at a time, into a multipart upload of the photo's
// final object, which completes without the bytes being copied again. A
// PATCH that ends short of a full part keeps the rest as one tail object;
// the next PATCH reads the tail back in front of its own bytes (less than
// one part), so every part but the last has the full size S3 requires.
//
// Most uploads arrive whole in their first PATCH (tus clients send the
// whole file unless the connection breaks). An upload that starts here
// and fits in the two part buffers is therefore held until its body ends:
// if the body completes it, its structure is checked before anything is
// stored, and it is stored with one PUT of the final object that carries
// the photo's sha256, which the store verifies before it keeps the bytes,
// instead of a multipart upload. Its bytes are hashed once, by the store;
// only if the body ends early are they hashed here, to be resumed.
func (u *uploads) patchMultipart(c *fiber.Ctx, p domain.Principal, up *domain.Upload, want []byte, running, reqHash hash.Hash) error {
	ctx := c.UserContext()
	scan, err := restoreScan(up)
	if err != nil {
		return err
	}
	// Two buffers: the next part is read from the body while the previous
	// one is stored, so the phone's bytes and the store's writes overlap.
	bufs := [2][]byte{u.buffer(), u.buffer()}
	cur := 0
	type stored struct {
		idx  int
		etag string
		err  error
	}
	var chunks []domain.MultipartPart
	var storing chan stored // the part being stored, if any
	wait := func() error {
		if storing == nil {
			return nil
		}
		r := <-storing
		storing = nil
		if r.err == nil {
			chunks[r.idx].ETag = r.etag
		}
		return r.err
	}
	defer func() {
		_ = wait() // never hand a buffer back while a store reads it
		u.release(bufs[0])
		u.release(bufs[1])
	}()
	buf := bufs[cur]
	fill, err := u.readTail(ctx, up, buf)
	if err != nil {
		return err
	}
	whole := up.Offset == 0 && up.MultipartID == "" && len(up.Parts) == 0 && up.Length <= int64(2*len(buf))
	var held []byte // the first buffer, full, while a whole upload is held
	key := domain.OriginalKey(up.OrgID, up.SHA256)
	var ws *wholeStream // a whole upload's PUT, under way while its body arrives
	defer func() {
		if ws != nil {
			ws.abort(errRequestEnded) // nothing once committed
		}
	}()
	from, pos, content := up.Offset, up.Offset, up.Content
	mpID := up.MultipartID
	// putPart stores b as the next part in the background; at most one
	// part is in flight.
	putPart := func(b []byte) error {
		if err := wait(); err != nil {
			return err
		}
		if mpID == "" {
			id, err := u.Multipart.StartMultipart(ctx, key, content)
			if err != nil {
				return err
			}
			mpID = id
		}
		n := len(up.Chunks) + len(chunks) + 1
		chunks = append(chunks, domain.MultipartPart{Number: n, Size: int64(len(b))})
		done := make(chan stored, 1)
		idx, id := len(chunks)-1, mpID
		go func() {
			part, err := u.Multipart.PutPart(ctx, key, id, n, bytes.NewReader(b), int64(len(b)))
			done <- stored{idx: idx, etag: part.ETag, err: err}
		}()
		storing = done
		return nil
	}
	body := io.LimitReader(u.bodyReader(c), up.Length-up.Offset+1)
	var broken error
	for {
		if fill == len(buf) {
			// The body's last bytes filled the last part: anything more
			// is over Upload-Length.
			var probe [1]byte
			if n, _ := io.ReadFull(body, probe[:]); n > 0 {
				return domain.Errorf(domain.CodePayloadTooLarge, "the body is longer than what is left of Upload-Length")
			}
			break
		}
		var n int
		var rerr error
		if whole {
			// In steps, so the store gets the bytes as they come; the
			// first step is large enough to hold the image's header.
			n, rerr = io.ReadAtLeast(body, buf[fill:], min(len(buf)-fill, wholeStep(pos)))
		} else {
			n, rerr = io.ReadFull(body, buf[fill:])
		}
		chunk := buf[fill : fill+n]
		if pos+int64(n) > up.Length {
			return domain.Errorf(domain.CodePayloadTooLarge, "the body is longer than what is left of Upload-Length")
		}
		if n > 0 && content == "" {
			if int64(n) < min(domain.SniffLen, up.Length) {
				broken = errors.Join(rerr, io.ErrUnexpectedEOF)
				break // too few bytes to tell the type: keep none
			}
			ct, reason, serr := admit(chunk)
			if serr != nil {
				return u.refuse(ctx, p, up, reason, serr)
			}
			content = ct
			if whole {
				ws = startWhole(ctx, u.Multipart, key, up, content)
			}
		}
		if ws != nil {
			if err := ws.send(chunk); err != nil {
				return err
			}
		}
		if !whole {
			running.Write(chunk)
		}
		_, _ = scan.Write(chunk)
		if reqHash != nil {
			reqHash.Write(chunk)
		}
		pos += int64(n)
		fill += n
		if fill == len(buf) && pos < up.Length {
			if whole && held == nil {
				held = buf
			} else if err := putPart(buf[:fill]); err != nil {
				return err
			}
			cur ^= 1
			buf, fill = bufs[cur], 0
		}
		if rerr == nil {
			continue
		}
		if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			broken = rerr
		}
		break
	}
	if err := wait(); err != nil {
		return err
	}
	if reqHash != nil {
		// Parts sent for this request are not recorded: the next request
		// sends the same part numbers again, replacing them.
		if broken != nil {
			return domain.WrapError(domain.CodeMalformedRequest, broken, "the body ended early; its checksum cannot be verified")
		}
		if subtle.ConstantTimeCompare(reqHash.Sum(nil), want) != 1 {
			u.offsetHeaders(c, up)
			return domain.Errorf(domain.CodeChecksumMismatch, "the body does not match Upload-Checksum; resend it from offset %d", up.Offset)
		}
	}
	if pos == from {
		u.offsetHeaders(c, up)
		return c.SendStatus(http.StatusNoContent)
	}
	if whole && pos == up.Length {
		return u.storeWhole(c, p, up, ws, buf[:fill], content, scan)
	}
	if ws != nil {
		ws.abort(io.ErrUnexpectedEOF) // the body ended early: its bytes go on as parts
	}
	if whole {
		// A held upload that did not end here goes on as any other: its
		// bytes are hashed, its first part (if full) stored as a part, the
		// rest as the tail.
		running.Write(held)
		running.Write(buf[:fill])
	}
	if held != nil {
		if err := putPart(held); err != nil {
			return err
		}
	}
	oldTail := up.Parts
	var newTail []domain.UploadPart
	switch {
	case pos == up.Length:
		if err := putPart(buf[:fill]); err != nil { // the last part may be short
			return err
		}
		if err := wait(); err != nil {
			return err
		}
	case fill > 0:
		tailKey := partKey(up, pos-int64(fill))
		if _, err := u.Blobs.Put(ctx, tailKey, bytes.NewReader(buf[:fill]), int64(fill), "application/octet-stream"); err != nil {
			return err
		}
		newTail = []domain.UploadPart{{Key: tailKey, Offset: pos - int64(fill), Size: int64(fill)}}
	}
	if err := wait(); err != nil {
		u.dropParts(ctx, newTail)
		return err
	}
	up.MultipartID = mpID
	up.Chunks = append(up.Chunks, chunks...)
	up.Parts = newTail
	up.Offset, up.Content = pos, content
	if err := u.advance(ctx, p, up, from, running, scan, newTail); err != nil {
		return err
	}
	u.dropParts(ctx, oldTail) // its bytes are in a part or the new tail now
	if up.Offset == up.Length {
		if err := u.finish(ctx, p, up); err != nil {
			return err
		}
	}
	u.offsetHeaders(c, up)
	return c.SendStatus(http.StatusNoContent)
}

// readTail reads the upload's tail objects into the front of buf and
// returns how many bytes they hold.
func (u *uploads) readTail(ctx context.Context, up *domain.Upload, buf []byte) (int, error) {
	fill := 0
	for _, part := range up.Parts {
		if fill+int(part.Size) > len(buf) {
			return 0, domain.Errorf(domain.CodeInternal, "the upload's tail is larger than a part")
		}
		rc, _, err := u.Blobs.Get(ctx, part.Key)
		if err != nil {
			return 0, err
		}
		_, err = io.ReadFull(rc, buf[fill:fill+int(part.Size)])
		_ = rc.Close()
		if err != nil {
			return 0, domain.WrapError(domain.CodeUnavailable, err, "the upload's stored bytes could not be read; try again")
		}
		fill += int(part.Size)
	}
	return fill, nil
}

// completeMultipart makes the upload's parts the photo's original object.
// If equal bytes were stored meanwhile (deduplication), they are replaced
// by the same bytes: cheaper than asking first.
func (u *uploads) completeMultipart(ctx context.Context, up *domain.Upload, key string) error {
	_, err := u.Multipart.CompleteMultipart(ctx, key, up.MultipartID, up.Chunks)
	return err
}

// storeWhole finishes an upload whose bytes all arrived in this request,
// streamed to the store as they came (ws) but for the last bytes, held in
// last: if its structure checks out, they are sent and the store verifies
// the whole against the photo's sha256 before it keeps the object; then
// the photo is marked uploaded and the upload complete. Bytes that fail a
// check are never stored.
func (u *uploads) storeWhole(c *fiber.Ctx, p domain.Principal, up *domain.Upload, ws *wholeStream, last []byte, content string, scan *domain.ImageScan) error {
	ctx := c.UserContext()
	if err := scan.Check(); err != nil {
		ws.abort(err)
		return u.refuse(ctx, p, up, domain.FailureCorrupt, err)
	}
	key := domain.OriginalKey(up.OrgID, up.SHA256)
	if _, err := ws.commit(last); err != nil {
		if domain.IsCode(err, domain.CodeContentMismatch) {
			return u.refuse(ctx, p, up, domain.FailureHashMismatch, errHashMismatch())
		}
		return err
	}
	from := up.Offset
	up.Offset, up.Content = up.Length, content
	up.HashState = nil // complete: no hash to resume
	up.ScanState = marshalScan(scan)
	err := u.markUploaded(ctx, p, up, key, func(ctx context.Context, uploads domain.UploadFinisher) error {
		return uploads.AdvanceAndComplete(ctx, up, from)
	})
	if err != nil {
		return err
	}
	u.offsetHeaders(c, up)
	return c.SendStatus(http.StatusNoContent)
}

// wholeStep is how many bytes a whole upload's body is read in at a time,
// pos bytes into it: the first read takes the image's header (with its
// metadata segments) for admit, the others pass bytes on as they come.
func wholeStep(pos int64) int {
	if pos == 0 {
		return 256 << 10
	}
	return 64 << 10
}

// errRequestEnded ends a store's read of a body the request did not finish.
var errRequestEnded = errors.New("the request ended before its upload was stored")
