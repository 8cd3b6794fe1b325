package sync_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// decodeCodes are the only codes a decoder may answer with: a device must
// always get a documented, typed refusal, never an internal error.
var decodeCodes = []domain.Code{
	domain.CodeMalformedRequest, domain.CodeInvalid, domain.CodeUpgradeRequired, domain.CodePayloadTooLarge,
}

// FuzzDecodePush feeds DecodePush arbitrary bodies, starting from the real
// samples in testdata/push. It must never panic, must refuse with one of
// decodeCodes, and whatever it accepts must be a batch Push can rely on:
// consecutive ids, a client id, object arguments, and the same request
// again after a JSON round trip.
func FuzzDecodePush(f *testing.F) {
	samples, err := filepath.Glob(filepath.Join("testdata", "push", "*.json"))
	if err != nil || len(samples) == 0 {
		f.Fatalf("no push samples in testdata/push (%v)", err)
	}
	for _, p := range samples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"protocol_version":1,"schema_version":3,"client_id":"0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90","mutations":[{"id":1,"name":"x","args":{}},{"id":3,"name":"x","args":{}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := fsync.DecodePush(body)
		if err != nil {
			if !slices.Contains(decodeCodes, domain.ErrorCode(err)) {
				t.Fatalf("DecodePush error with code %q: %v", domain.ErrorCode(err), err)
			}
			return
		}
		if req.ClientID == "" || req.Mutations == nil || len(req.Mutations) > fsync.MaxMutationsPerPush {
			t.Fatalf("accepted a push without a client or with a bad batch: %+v", req)
		}
		for i, m := range req.Mutations {
			if m.ID != req.Mutations[0].ID+int64(i) || m.ID < 1 || m.Name == "" || len(m.Args) == 0 {
				t.Fatalf("accepted mutation %d: %+v", i, m)
			}
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		req2, err := fsync.DecodePush(again)
		if err != nil {
			t.Fatalf("re-encoded push refused: %v\n%s", err, again)
		}
		if req2.ClientID != req.ClientID || len(req2.Mutations) != len(req.Mutations) || req2.Versions != req.Versions {
			t.Fatalf("round trip changed the push:\n%+v\n%+v", req, req2)
		}
	})
}

// FuzzDecodeCursor feeds DecodeCursor arbitrary strings. It must never
// panic, and a cursor it accepts must survive Encode and DecodeCursor
// unchanged, so that a device re-sending it resumes at the same place.
func FuzzDecodeCursor(f *testing.F) {
	seeds := []fsync.Cursor{
		{Format: 1, Epoch: "e", OrgID: "o", UserID: "u", Role: domain.RoleSales, Mode: fsync.ModeIncremental, Seq: 9},
		{Format: 1, Epoch: "e", OrgID: "o", UserID: "u", Role: domain.RoleManager, Mode: fsync.ModeSnapshot, Seq: 3, Start: 3, Session: true,
			Kinds: []domain.EntityKind{domain.KindProject, domain.KindPhoto}, After: "0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90"},
		{Format: 1, Epoch: "e", OrgID: "o", UserID: "u", Role: domain.RoleFieldTech, Mode: fsync.ModeIncremental, Seq: 3, Start: 8,
			Repair: []domain.EntityKind{domain.KindLead}, Ack: 2},
	}
	for _, c := range seeds {
		f.Add(c.Encode())
	}
	f.Add("")
	f.Add("eyJ2IjoxfQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := fsync.DecodeCursor(s)
		if err != nil {
			return
		}
		c2, err := fsync.DecodeCursor(c.Encode())
		if err != nil {
			t.Fatalf("re-encoded cursor refused: %v (%+v)", err, c)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the cursor:\n%+v\n%+v", c, c2)
		}
	})
}
