package sync_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// The protocol spec is written for client developers who will never read
// this code: these tests keep it true. Every JSON example must decode into
// the wire type it illustrates, and every mutation, rejection code and
// reset reason the engine knows must be documented.

func readSpec(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/sync-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// strictDecode decodes one JSON object into v, refusing unknown fields, so
// an example that names a field the server does not have fails.
func strictDecode(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestSpecExamplesDecode(t *testing.T) {
	t.Parallel()
	spec := readSpec(t)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(spec, -1)
	if len(blocks) < 8 {
		t.Fatalf("found only %d JSON examples in the spec", len(blocks))
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		raw := b[1]
		var probe map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &probe); err != nil {
			t.Errorf("example %d is not a JSON object: %v\n%s", i, err, raw)
			continue
		}
		has := func(k string) bool { _, ok := probe[k]; return ok }
		var err error
		var what string
		switch {
		case has("mutations"):
			what = "push request"
			_, err = fsync.DecodePush([]byte(raw))
		case has("ack_outcomes_through"):
			what = "pull request"
			_, err = fsync.DecodePull([]byte(raw))
		case has("changes"):
			what = "pull response"
			var r fsync.PullResponse
			err = strictDecode(raw, &r)
			if err == nil {
				for _, c := range r.Changes {
					if c.Op != fsync.OpPut && c.Op != fsync.OpDelete && c.Op != fsync.OpVersion {
						t.Errorf("pull example has op %q", c.Op)
					}
				}
			}
		case has("processed"):
			what = "push response"
			var r fsync.PushResponse
			err = strictDecode(raw, &r)
		case has("parts"):
			what = "checksums"
			var r fsync.ChecksumsResponse
			err = strictDecode(raw, &r)
		case has("platform"):
			what = "device registration"
			var r fsync.DeviceRegistration
			err = strictDecode(raw, &r)
		case has("protocol_version"):
			what = "versions"
			var r fsync.Versions
			err = strictDecode(raw, &r)
		default:
			t.Errorf("example %d matches no wire type:\n%s", i, raw)
			continue
		}
		seen[what] = true
		if err != nil {
			t.Errorf("%s example %d does not decode: %v\n%s", what, i, err, raw)
		}
	}
	for _, want := range []string{"push request", "push response", "pull request", "pull response", "checksums", "device registration"} {
		if !seen[want] {
			t.Errorf("the spec has no %s example", want)
		}
	}
}

func TestSpecDocumentsEveryMutation(t *testing.T) {
	t.Parallel()
	spec := readSpec(t)
	for _, m := range fsync.Catalogue() {
		if strings.HasPrefix(m.Name, "test.") {
			continue // registered by this package's tests only
		}
		head := "### `" + m.Name + "`\n"
		i := strings.Index(spec, head)
		if i < 0 {
			t.Errorf("the spec has no section for %s", m.Name)
			continue
		}
		section := spec[i+len(head):]
		if j := strings.Index(section, "\n### "); j >= 0 {
			section = section[:j]
		}
		for _, a := range append(append([]fsync.ArgInfo{}, m.Args...), m.Fields...) {
			if !strings.Contains(section, "`"+a.Name+"`") {
				t.Errorf("%s: the spec does not document %s", m.Name, a.Name)
			}
		}
		for _, r := range m.Rejections {
			if !strings.Contains(section, "`"+string(r)+"`") {
				t.Errorf("%s: the spec does not list rejection %s", m.Name, r)
			}
		}
	}
	for _, r := range fsync.RejectionCodes() {
		if !strings.Contains(spec, "| `"+string(r)+"` |") {
			t.Errorf("the rejection table lacks %s", r)
		}
	}
	if !strings.Contains(spec, "`"+fsync.ConflictField+"`") {
		t.Error("the spec does not name the conflict code")
	}
	for _, reason := range []string{fsync.ResetInitial, fsync.ResetCursorInvalid, fsync.ResetEpoch, fsync.ResetForeignCursor,
		fsync.ResetCursorAhead, fsync.ResetHistoryExpired, fsync.ResetRoleChanged, fsync.ResetRepair} {
		if !strings.Contains(spec, "| `"+reason+"` |") {
			t.Errorf("the reset table lacks %s", reason)
		}
	}
	limits := map[string]int{"mutations per push": fsync.MaxMutationsPerPush, "records per pull page": fsync.MaxPullLimit}
	for name, n := range limits {
		if !strings.Contains(spec, "| "+name+" | "+formatThousands(n)) && !strings.Contains(spec, "| "+name+" | `limit`, default "+formatThousands(fsync.DefaultPullLimit)+", at most "+formatThousands(n)) {
			t.Errorf("the limits table does not give %s = %d", name, n)
		}
	}
}

// formatThousands writes n the way the spec does: 1,000 and 5,000.
func formatThousands(n int) string {
	s := strconv.Itoa(n)
	if len(s) <= 3 {
		return s
	}
	return s[:len(s)-3] + "," + s[len(s)-3:]
}
