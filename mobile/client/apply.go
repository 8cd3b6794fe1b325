package client

import (
	"encoding/json"
	"maps"
	"strings"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// Target is the record a mutation acts on, by the protocol's conventions:
// the kind before the dot of its name, and its "id" argument.
func Target(m fsync.Mutation) (domain.EntityKind, string) {
	kind, _, _ := strings.Cut(m.Name, ".")
	var args struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(m.Args, &args)
	return domain.EntityKind(kind), args.ID
}

// ApplyLocal is what the device does to its copy of a record (nil: none)
// to show a mutation before the server confirms it, and to rebuild a
// record the server confirmed with op version: an update patches the
// fields it names, a create makes the record from its arguments, a delete
// removes it (nil), any other mutation sets the arguments it names (a
// status change its status). The server's own defaults of a create are
// not known here; the protocol promises an op version only when the
// device's rebuild equals what the server stored.
func ApplyLocal(data json.RawMessage, m fsync.Mutation) json.RawMessage {
	if strings.HasSuffix(m.Name, ".delete") {
		return nil
	}
	obj := map[string]json.RawMessage{}
	if data != nil {
		_ = json.Unmarshal(data, &obj)
	}
	var args map[string]json.RawMessage
	_ = json.Unmarshal(m.Args, &args)
	if fields, ok := args["fields"]; ok {
		var patch map[string]json.RawMessage
		_ = json.Unmarshal(fields, &patch)
		maps.Copy(obj, patch)
	} else {
		delete(args, "base_version")
		maps.Copy(obj, args)
	}
	switch m.Name {
	case "appointment.cancel":
		obj["status"] = json.RawMessage(`"cancelled"`)
	case "appointment.complete":
		obj["status"] = json.RawMessage(`"completed"`)
	}
	out, _ := json.Marshal(obj)
	return out
}
