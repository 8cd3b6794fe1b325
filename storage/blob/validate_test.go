package blob

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckKey proves the key rules keep Dir inside its folder: a key that
// passes maps to a path below the objects folder, and back to itself.
func FuzzCheckKey(f *testing.F) {
	for _, seed := range []string{
		"a", "a/b/c.jpg", "..", "a/../b", "/abs", `a\b`, "a//b", "a/./b", "a/", ".hidden/..x",
		"org/01J/photos/01K/original.jpg", "é/ü", "a\x00b", strings.Repeat("s", 256),
	} {
		f.Add(seed)
	}
	d := &Dir{objects: filepath.FromSlash("/srv/blobs/objects")}
	f.Fuzz(func(t *testing.T, key string) {
		if checkKey(key) != nil {
			return
		}
		p := d.path(key)
		rel, err := filepath.Rel(d.objects, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("key %q maps to %q, outside %q", key, p, d.objects)
		}
		if filepath.ToSlash(rel) != key {
			t.Fatalf("key %q maps to %q, which reads back as %q", key, p, filepath.ToSlash(rel))
		}
		if checkPrefix(key) != nil {
			t.Fatalf("key %q is valid but refused as a prefix", key)
		}
	})
}
