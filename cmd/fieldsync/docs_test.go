package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/admin"
	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// The docs are part of the product: these tests fail when code changes and
// the README, the API page or the OpenAPI file do not.

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadmeDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	readme := readDoc(t, "README.md")
	for _, v := range envVars {
		if !strings.Contains(readme, "`"+v.Name+"`") {
			t.Errorf("README.md does not document %s", v.Name)
		}
	}
	for _, u := range demoSignIns() {
		if !strings.Contains(readme, u.email) {
			t.Errorf("README.md does not list demo sign-in %s", u.email)
		}
	}
	if !strings.Contains(readme, demoPassword) {
		t.Error("README.md does not give the demo password")
	}
	if !strings.Contains(readme, "LEAD="+demoLeadID(3)) {
		t.Errorf("README.md's LEAD is not demo lead 3 (%s)", demoLeadID(3))
	}
	if !strings.HasPrefix(readme, "# fieldsync\n\n```sh\nmake run") {
		t.Error("README.md must start with the two commands")
	}
}

func TestExampleEnvListsEveryVariable(t *testing.T) {
	t.Parallel()
	env := readDoc(t, "deploy/example.env")
	for _, v := range envVars {
		if !regexp.MustCompile(`(?m)^#? ?` + v.Name + `=`).MatchString(env) {
			t.Errorf("deploy/example.env does not list %s", v.Name)
		}
	}
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	spec := readDoc(t, "docs/openapi.yaml")
	// Routes mount only with their dependencies; a typed nil engine and
	// empty upload and back-office configurations are enough to list them
	// (no handler runs).
	app := mobile.New(mobile.Config{Sync: (*fsync.Engine)(nil), Uploads: &mobile.UploadsConfig{}})
	admin.Mount(app, admin.Config{RequireAuth: func(c *fiber.Ctx) error { return c.Next() }})
	param := regexp.MustCompile(`:([a-z_]+)`)
	for _, r := range app.GetRoutes(true) {
		if r.Method == "HEAD" {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		// A wildcard tail is a key with slashes in it (the signed blob route).
		path = strings.Replace(path, "/*", "/{key}", 1)
		if !strings.Contains(spec, "\n  "+path+":\n") {
			t.Errorf("docs/openapi.yaml lacks path %s", path)
			continue
		}
		block := spec[strings.Index(spec, "\n  "+path+":\n"):]
		if next := regexp.MustCompile(`\n  /`).FindStringIndex(block[1:]); next != nil {
			block = block[:next[0]+1]
		}
		if !strings.Contains(block, "\n    "+strings.ToLower(r.Method)+":") {
			t.Errorf("docs/openapi.yaml lacks %s %s", r.Method, path)
		}
	}
}

func TestErrorCodesAreDocumented(t *testing.T) {
	t.Parallel()
	api := readDoc(t, "docs/api.md")
	spec := readDoc(t, "docs/openapi.yaml")
	for _, c := range domain.Codes() {
		status := mobile.StatusFor(c)
		row := regexp.MustCompile("\\| `" + string(c) + "` \\| (\\d+) \\|").FindStringSubmatch(api)
		if row == nil {
			t.Errorf("docs/api.md has no row for code %s", c)
		} else if row[1] != strconv.Itoa(status) {
			t.Errorf("docs/api.md says %s is %s; the server answers %d", c, row[1], status)
		}
		if !regexp.MustCompile(`[\[ ,]` + string(c) + `[,\]]`).MatchString(spec) {
			t.Errorf("docs/openapi.yaml's Problem.code enum lacks %s", c)
		}
	}
}
