package sync_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// AppendJSON must say exactly what json.Marshal says, byte for byte, for
// any response whose data is compact JSON (all the engine produces), and
// keep what is not compact as it is.
func TestPullResponseAppendJSONMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"", "a", `quote " and \ slash`, "<tag>&amp;", "ünïcödé", `"changes":null`, "\u2028"}
	pick := func() string { return words[rng.IntN(len(words))] }
	for i := range 300 {
		r := fsync.PullResponse{
			Cursor: pick(), HasMore: rng.IntN(2) == 0, Reset: rng.IntN(3) == 0, ResetReason: pick(),
			LastMutationID: rng.Int64N(1000), ServerTime: time.Unix(rng.Int64N(1e9), rng.Int64N(1e9)).UTC(),
		}
		if rng.IntN(2) == 0 {
			r.ResetKinds = []domain.EntityKind{domain.KindLead, domain.KindPhoto}
		}
		if rng.IntN(4) > 0 {
			r.Changes = []fsync.Change{}
			for range rng.IntN(5) {
				c := fsync.Change{Op: fsync.OpPut, Kind: domain.KindLead, ID: pick(), Version: rng.Int64N(99)}
				if rng.IntN(3) > 0 {
					data, _ := json.Marshal(map[string]any{"notes": pick(), "n": rng.IntN(9)})
					c.Data = data
				}
				if rng.IntN(2) == 0 {
					c.MutationID = rng.Int64N(50)
				}
				r.Changes = append(r.Changes, c)
			}
		}
		if rng.IntN(2) == 0 {
			r.Outcomes = []fsync.Outcome{{MutationID: 3, Name: "lead.update", Kind: domain.OutcomeRejected, Code: "forbidden", Message: pick(),
				Details: json.RawMessage(`{"field":"x"}`)}}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.AppendJSON([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
	// PostgreSQL's jsonb text has spaces; it goes out as it is, still JSON.
	r := fsync.PullResponse{Changes: []fsync.Change{{Op: fsync.OpPut, Kind: domain.KindLead, ID: "x", Data: json.RawMessage(`{"a": 1, "b": [2, 3]}`)}}}
	got, err := r.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(got) || !strings.Contains(string(got), `"data":{"a": 1, "b": [2, 3]}`) {
		t.Fatalf("got %s", got)
	}
}
