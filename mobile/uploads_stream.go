package mobile

import (
	"context"
	"io"

	"github.com/iswitchroofs/fieldsync/domain"
)

// wholeStream stores an upload that arrives whole in one request while its
// body is still arriving: the bytes go on to the store (one PUT verified
// against the photo's sha256) as they come in, so the phone's transfer and
// the store's write overlap instead of following each other.
//
// The checks that need the whole body (the request's Upload-Checksum, the
// image's structure) can only pass or fail once it has arrived, so the
// stream always keeps the upload's last byte back: until commit sends it,
// the store has fewer bytes than the PUT declared and cannot keep the
// object. abort then leaves nothing behind, whatever the store had read.
type wholeStream struct {
	pw     *io.PipeWriter
	sent   int64 // bytes handed to the store
	length int64
	done   chan putResult
	res    *putResult
}

type putResult struct {
	info domain.BlobInfo
	err  error
}

// startWhole starts the PUT of the upload's bytes as key.
func startWhole(ctx context.Context, store domain.MultipartStore, key string, up *domain.Upload, content string) *wholeStream {
	pr, pw := io.Pipe()
	s := &wholeStream{pw: pw, length: up.Length, done: make(chan putResult, 1)}
	go func() {
		info, err := store.PutVerified(ctx, key, pr, up.Length, content, up.SHA256)
		// A store that gave up early must not leave the handler blocked
		// writing into the pipe.
		_ = pr.CloseWithError(io.ErrClosedPipe)
		s.done <- putResult{info, err}
	}()
	return s
}

// wait is the store's answer (once it has let go of the body).
func (s *wholeStream) wait() putResult {
	if s.res == nil {
		r := <-s.done
		s.res = &r
	}
	return *s.res
}

// failed is why the store stopped reading before it had every byte.
func (s *wholeStream) failed() error {
	if r := s.wait(); r.err != nil {
		return r.err
	}
	return domain.Errorf(domain.CodeUnavailable, "the store stopped reading the upload; try again")
}

// send passes on the next bytes of the body, all but the upload's last.
func (s *wholeStream) send(p []byte) error {
	n := min(int64(len(p)), s.length-1-s.sent)
	if n <= 0 {
		return nil
	}
	if _, err := s.pw.Write(p[:n]); err != nil {
		return s.failed()
	}
	s.sent += n
	return nil
}

// commit sends the bytes held back (last ends with the upload's last byte
// and holds at least those not sent) and waits for the store.
func (s *wholeStream) commit(last []byte) (domain.BlobInfo, error) {
	held := s.length - s.sent
	if int64(len(last)) < held {
		s.abort(io.ErrUnexpectedEOF)
		return domain.BlobInfo{}, domain.Errorf(domain.CodeInternal, "the held bytes of a whole upload were lost")
	}
	if _, err := s.pw.Write(last[int64(len(last))-held:]); err != nil {
		return domain.BlobInfo{}, s.failed()
	}
	s.sent = s.length
	_ = s.pw.Close()
	r := s.wait()
	return r.info, r.err
}

// abort ends the PUT short of its last byte, so the store keeps nothing,
// and waits until the store has let go of the body. It does nothing after
// commit.
func (s *wholeStream) abort(cause error) {
	_ = s.pw.CloseWithError(cause)
	s.wait()
}
