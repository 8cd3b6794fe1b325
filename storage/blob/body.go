package blob

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/iswitchroofs/fieldsync/domain"
)

// body wraps the reader given to Put. It enforces the declared size and keeps
// the caller's failure apart from the store's, so that Put can report a short
// upload or a broken stream as such rather than as a storage error.
type body struct {
	r        io.Reader
	size     int64 // declared; -1 if unknown
	left     int64 // bytes still expected when size is known
	n        int64 // bytes handed on
	endKnown bool  // the reader was seen to end exactly at size
	err      error // the first failure on the caller's side; sticky
}

// newBody wraps r. For a declared size of 0 it checks right away that r is
// empty, since an uploader may never ask a zero-length body for bytes.
func newBody(r io.Reader, size int64) (*body, error) {
	b := &body{r: r, size: size, left: size}
	if size == 0 {
		if err := b.expectEnd(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.size < 0 {
		n, err := b.r.Read(p)
		b.n += int64(n)
		if err != nil && err != io.EOF {
			b.err = err
		}
		return n, err
	}
	if b.left == 0 {
		if err := b.expectEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF && b.left > 0:
		b.err = domain.Errorf(domain.CodeInvalid, "the body is shorter than its declared size of %d bytes", b.size)
		return 0, b.err
	case err != nil && err != io.EOF:
		b.err = err
		return 0, err
	}
	if b.left == 0 {
		// The last bytes are held back until the body is known to end here:
		// an uploader that had them could complete an object of the wrong size.
		if err := b.expectEnd(); err != nil {
			return 0, err
		}
		b.n += int64(n)
		return n, io.EOF
	}
	b.n += int64(n)
	return n, nil
}

func (b *body) expectEnd() error {
	if b.endKnown {
		return nil
	}
	var one [1]byte
	for range 100 { // as bufio does, give up on a reader that makes no progress
		n, err := b.r.Read(one[:])
		switch {
		case n > 0:
			b.err = domain.Errorf(domain.CodeInvalid, "the body is longer than its declared size of %d bytes", b.size)
			return b.err
		case err == io.EOF:
			b.endKnown = true
			return nil
		case err != nil:
			b.err = err
			return err
		}
	}
	b.err = io.ErrNoProgress
	return b.err
}

// putError chooses what a failed Put reports: the caller's side first (a body
// of the wrong size, a broken stream, a canceled context), else storeErr,
// which the implementation has already translated.
func putError(ctx context.Context, op string, b *body, storeErr error) error {
	if err := b.err; err != nil {
		if isContextErr(err) {
			return canceled(op, err)
		}
		return fmt.Errorf("%s: reading the body: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	return storeErr
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// canceled reports an operation cut short by its context. It is not a bug
// (CodeInternal) but the caller giving up or running out of time.
func canceled(op string, err error) error {
	return wrap(domain.CodeUnavailable, op, err, "the storage operation was canceled or timed out")
}

// wrap builds the domain error a store returns: code and a client-safe
// message, with the cause and the operation's name kept for the log.
func wrap(code domain.Code, op string, err error, message string) error {
	return domain.WrapError(code, fmt.Errorf("%s: %w", op, err), message)
}
