package mobileapi_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/mobile/client/mobileapi"
)

// The facade works offline: a mutation is shown at once, listed, counted,
// and survives closing and reopening the store; arguments that are not a
// JSON object are refused before anything is recorded.
func TestFacadeOffline(t *testing.T) {
	t.Parallel()
	o := mobileapi.NewOptions()
	o.BaseURL, o.StorePath, o.Platform = "http://127.0.0.1:1", filepath.Join(t.TempDir(), "app.db"), "ios"
	c, err := mobileapi.Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mutate("lead.create", `["not", "an object"]`); err == nil {
		t.Fatal("non-object arguments were accepted")
	}
	id := "0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90"
	mid, err := c.Mutate("lead.create", `{"id":"`+id+`","first_name":"Ana","phone":"+15125550100"}`)
	if err != nil || mid != 1 {
		t.Fatalf("mutate: %d %v", mid, err)
	}
	got, err := c.Get("lead", id)
	if err != nil || !strings.Contains(got, `"first_name":"Ana"`) {
		t.Fatalf("get: %q %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = mobileapi.Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("lead")
	var leads []map[string]any
	if err != nil || json.Unmarshal([]byte(list), &leads) != nil || len(leads) != 1 || leads[0]["id"] != id {
		t.Fatalf("list after reopening: %s %v", list, err)
	}
	if n, err := c.PendingCount(); err != nil || n != 1 {
		t.Fatalf("pending: %d %v", n, err)
	}
	if got, _ := c.Get("lead", "11111111-1111-4111-8111-111111111111"); got != "" {
		t.Fatalf("a missing record: %q", got)
	}
}
