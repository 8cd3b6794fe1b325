package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"strings"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// tokenUser is the user an access token was issued to (its "sub" claim),
// read without checking the signature: the device only needs to know who
// it acts for, and the server checks the token on every request. "" if
// the token cannot be read.
func tokenUser(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	return claims.Sub
}

// signedInUser is the user the stored access token names.
func signedInUser(ctx context.Context, q querier) (string, error) {
	tok, err := getMeta(ctx, q, metaAccess)
	return tokenUser(tok), err
}

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
// status change its status). A create also gets the defaults the spec
// makes the client's too (fsync.CreateDefaults for the user me and the
// app's schema): the server answers such a create with op version only,
// so a device without them would keep a record that lacks those fields.
func ApplyLocal(data json.RawMessage, m fsync.Mutation, me string, schema int) json.RawMessage {
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
	for f, v := range fsync.CreateDefaults(m.Name, me, schema) {
		if _, ok := obj[f]; !ok {
			obj[f], _ = json.Marshal(v)
		}
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
