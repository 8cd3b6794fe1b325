package blob

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Dir is a domain.BlobStore on a local directory: the embedded default of
// `fieldsync dev`, needing no server.
//
// An object lives at objects/<key> under the root, in a file that starts with
// a small header holding its content type, so that bytes and type are
// replaced together by one rename. A Put writes into tmp/ under the root and
// renames into place, so readers never see a partial object. The files are
// therefore not plain copies of the photos. Key case follows the file system
// (case-insensitive on a default macOS volume).
type Dir struct {
	objects string
	staging string
}

var _ domain.BlobStore = (*Dir)(nil)

const (
	// headerMagic opens every object file, so that a stray file dropped into
	// the tree is reported rather than served with garbage in front.
	headerMagic = "fsblob1\n"
	headerFixed = len(headerMagic) + 2 // magic, then the content type's length

	// staleStaging is how old a staging file must be before NewDir removes it
	// as the leftover of a crashed process rather than another process's Put
	// in progress.
	staleStaging = 24 * time.Hour

	// publishAttempts bounds the retries of a rename that loses the race with
	// a Delete pruning the folder it goes into.
	publishAttempts = 10
)

// NewDir opens the store rooted at root, creating the directory if needed,
// and removes staging files that crashed processes left behind.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, invalid("root", "must not be empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob: dir %q: %w", root, err)
	}
	d := &Dir{objects: filepath.Join(abs, "objects"), staging: filepath.Join(abs, "tmp")}
	for _, p := range []string{d.objects, d.staging} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("blob: dir %q: %w", root, err)
		}
	}
	d.removeStaleStaging(time.Now())
	return d, nil
}

// removeStaleStaging is best effort: a leftover that cannot be removed now
// costs only disk space and is tried again at the next start.
func (d *Dir) removeStaleStaging(now time.Time) {
	entries, err := os.ReadDir(d.staging)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleStaging {
			_ = os.Remove(filepath.Join(d.staging, e.Name()))
		}
	}
}

func (d *Dir) path(key string) string {
	return filepath.Join(d.objects, filepath.FromSlash(key))
}

// Put implements domain.BlobStore.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (domain.BlobInfo, error) {
	return d.put(ctx, fmt.Sprintf("blob: put %q", key), key, r, size, contentType, nil)
}

// put stages r and publishes it under key; a check, if given, runs once
// the bytes are staged and can still refuse them.
func (d *Dir) put(ctx context.Context, op, key string, r io.Reader, size int64, contentType string, check func() error) (domain.BlobInfo, error) {
	ct, err := checkPut(key, size, contentType)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return domain.BlobInfo{}, canceled(op, err)
	}
	b, err := newBody(r, size)
	if err != nil {
		return domain.BlobInfo{}, err
	}

	f, err := os.CreateTemp(d.staging, "put-*")
	if err != nil {
		return domain.BlobInfo{}, wrap(domain.CodeInternal, op, err, "the object could not be stored")
	}
	published := false
	defer func() {
		if !published {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()

	modTime, err := writeObject(ctx, f, b, ct)
	if err != nil {
		return domain.BlobInfo{}, putError(ctx, op, b, wrap(domain.CodeInternal, op, err, "the object could not be stored"))
	}
	if err := ctx.Err(); err != nil {
		return domain.BlobInfo{}, canceled(op, err)
	}
	if check != nil {
		if err := check(); err != nil {
			return domain.BlobInfo{}, err
		}
	}
	if err := d.publish(f.Name(), d.path(key)); err != nil {
		return domain.BlobInfo{}, d.publishError(op, err)
	}
	published = true
	return domain.BlobInfo{Key: key, Size: b.n, ContentType: ct, ModifiedAt: modTime}, nil
}

// writeObject writes the header and the body to f, flushes it to disk and
// closes it. It returns the modification time the object will keep.
func writeObject(ctx context.Context, f *os.File, b *body, contentType string) (time.Time, error) {
	header := make([]byte, headerFixed, headerFixed+len(contentType))
	copy(header, headerMagic)
	binary.BigEndian.PutUint16(header[len(headerMagic):], uint16(len(contentType)))
	header = append(header, contentType...)
	if _, err := f.Write(header); err != nil {
		return time.Time{}, err
	}
	if _, err := io.Copy(f, ctxReader{ctx, b}); err != nil {
		return time.Time{}, err
	}
	// Without the sync, a crash soon after the rename can leave an empty file
	// under the key on some file systems.
	if err := f.Sync(); err != nil {
		return time.Time{}, err
	}
	info, err := f.Stat()
	if err != nil {
		return time.Time{}, err
	}
	return modTimeOf(info), f.Close()
}

// ctxReader stops a copy when ctx ends, for readers that do not watch it.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var (
	errParentIsObject = errors.New("a folder of the key is an object")
	errKeyIsFolder    = errors.New("the key is a folder of other objects")
)

// publish renames the finished staging file to dst, creating its folders.
func (d *Dir) publish(staged, dst string) error {
	for attempt := 1; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return errParentIsObject
			}
			if errors.Is(err, fs.ErrNotExist) && attempt < publishAttempts {
				continue // a Delete pruned a folder MkdirAll had just made
			}
			return err
		}
		err := os.Rename(staged, dst)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, fs.ErrNotExist) && attempt < publishAttempts:
			continue // a Delete pruned the folder between MkdirAll and Rename
		case errors.Is(err, syscall.ENOTDIR):
			return errParentIsObject
		case errors.Is(err, syscall.EISDIR), errors.Is(err, fs.ErrExist), errors.Is(err, syscall.ENOTEMPTY):
			// An empty folder (left by a crash between MkdirAll and Rename)
			// holds no key and gives way; Remove refuses a folder in use.
			if attempt < publishAttempts && os.Remove(dst) == nil {
				continue
			}
			return errKeyIsFolder
		}
		return err
	}
}

func (d *Dir) publishError(op string, err error) error {
	switch {
	case errors.Is(err, errParentIsObject):
		return wrap(domain.CodeConflict, op, err, "a folder of this key is already an object; a key cannot be both")
	case errors.Is(err, errKeyIsFolder):
		return wrap(domain.CodeConflict, op, err, "this key is already a folder of other objects; a key cannot be both")
	}
	return wrap(domain.CodeInternal, op, err, "the object could not be stored")
}

// Get implements domain.BlobStore. The reader also implements io.Seeker and
// io.ReaderAt over the object's bytes (for http.ServeContent), and keeps
// reading the version it opened even if the key is overwritten meanwhile.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: get %q", key)
	if err := checkKey(key); err != nil {
		return nil, domain.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, domain.BlobInfo{}, canceled(op, err)
	}
	f, info, offset, err := d.open(op, key)
	if err != nil {
		return nil, domain.BlobInfo{}, err
	}
	return objectReader{io.NewSectionReader(f, offset, info.Size), f}, info, nil
}

// objectReader serves an object's bytes from its file, past the header.
type objectReader struct {
	*io.SectionReader
	f *os.File
}

func (o objectReader) Close() error { return o.f.Close() }

// Stat implements domain.BlobStore.
func (d *Dir) Stat(ctx context.Context, key string) (domain.BlobInfo, error) {
	op := fmt.Sprintf("blob: stat %q", key)
	if err := checkKey(key); err != nil {
		return domain.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return domain.BlobInfo{}, canceled(op, err)
	}
	return d.stat(op, key)
}

func (d *Dir) stat(op, key string) (domain.BlobInfo, error) {
	f, info, _, err := d.open(op, key)
	if err != nil {
		return domain.BlobInfo{}, err
	}
	_ = f.Close() // read-only: nothing to lose
	return info, nil
}

// open opens the object file and reads its header. It returns the offset of
// the object's first byte in the file.
func (d *Dir) open(op, key string) (*os.File, domain.BlobInfo, int64, error) {
	f, err := os.Open(d.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, domain.BlobInfo{}, 0, wrap(domain.CodeNotFound, op, err, "object not found")
		}
		return nil, domain.BlobInfo{}, 0, wrap(domain.CodeInternal, op, err, "the object could not be read")
	}
	info, offset, err := readHeader(f, key)
	if err != nil {
		_ = f.Close()
		if errors.Is(err, errFolder) {
			return nil, domain.BlobInfo{}, 0, wrap(domain.CodeNotFound, op, err, "object not found")
		}
		return nil, domain.BlobInfo{}, 0, wrap(domain.CodeInternal, op, err, "the object could not be read")
	}
	return f, info, offset, nil
}

var errFolder = errors.New("the key is a folder, not an object")

func readHeader(f *os.File, key string) (domain.BlobInfo, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return domain.BlobInfo{}, 0, err
	}
	if fi.IsDir() {
		return domain.BlobInfo{}, 0, errFolder
	}
	buf := make([]byte, headerFixed+maxContentTypeLen)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return domain.BlobInfo{}, 0, err
	}
	buf = buf[:n]
	if len(buf) < headerFixed || string(buf[:len(headerMagic)]) != headerMagic {
		return domain.BlobInfo{}, 0, fmt.Errorf("%s is not an object file (bad header)", f.Name())
	}
	ctLen := int(binary.BigEndian.Uint16(buf[len(headerMagic):]))
	offset := headerFixed + ctLen
	if len(buf) < offset {
		return domain.BlobInfo{}, 0, fmt.Errorf("%s is not an object file (truncated header)", f.Name())
	}
	return domain.BlobInfo{
		Key:         key,
		Size:        fi.Size() - int64(offset),
		ContentType: string(buf[headerFixed:offset]),
		ModifiedAt:  modTimeOf(fi),
	}, int64(offset), nil
}

func modTimeOf(fi fs.FileInfo) time.Time {
	return fi.ModTime().UTC().Truncate(time.Second)
}

// Delete implements domain.BlobStore. It also removes the folders the object
// leaves empty, so that their names are free to become keys again, as they
// are in MinIO.
func (d *Dir) Delete(ctx context.Context, key string) error {
	op := fmt.Sprintf("blob: delete %q", key)
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	p := d.path(key)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return wrap(domain.CodeInternal, op, err, "the object could not be deleted")
	case fi.IsDir():
		return nil // a folder of other keys: there is no object here
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap(domain.CodeInternal, op, err, "the object could not be deleted")
	}
	for dir := filepath.Dir(p); dir != d.objects && strings.HasPrefix(dir, d.objects); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or already gone): the folders above are in use too
		}
	}
	return nil
}

// List implements domain.BlobStore. It reads the matching objects before
// calling fn, because a walk of the tree does not meet keys in byte order
// ("a/b" sorts after "a-b" and "a.b", yet the folder a is walked first).
func (d *Dir) List(ctx context.Context, prefix string, fn func(domain.BlobInfo) error) error {
	op := fmt.Sprintf("blob: list %q", prefix)
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	// Walk only the folder that the prefix names in full.
	start := d.objects
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = d.path(prefix[:i])
	}
	var infos []domain.BlobInfo
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // nothing there, or removed by a Delete during the walk
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(d.objects, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.stat(op, key)
		if domain.IsCode(err, domain.CodeNotFound) {
			return nil // deleted since the walk saw it
		}
		if err != nil {
			return err
		}
		infos = append(infos, info)
		return nil
	})
	if err != nil {
		if isContextErr(err) {
			return canceled(op, err)
		}
		var de *domain.Error
		if errors.As(err, &de) {
			return err
		}
		return wrap(domain.CodeInternal, op, err, "the objects could not be listed")
	}
	slices.SortFunc(infos, func(a, b domain.BlobInfo) int { return strings.Compare(a.Key, b.Key) })
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements domain.BlobStore: the directory exists and accepts a file.
func (d *Dir) Ping(ctx context.Context) error {
	const op = "blob: ping dir"
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	fi, err := os.Stat(d.objects)
	if err == nil && !fi.IsDir() {
		err = fmt.Errorf("%s is not a directory", d.objects)
	}
	if err != nil {
		return wrap(domain.CodeUnavailable, op, err, "the photo directory is missing")
	}
	f, err := os.CreateTemp(d.staging, "ping-*")
	if err != nil {
		return wrap(domain.CodeUnavailable, op, err, "the photo directory is not writable")
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return nil
}
