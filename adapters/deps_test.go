// Package adapters_test checks that the framework adapters stay optional: a
// merchant on plain net/http never compiles gin or gorilla/mux.
package adapters_test

import (
	"os/exec"
	"strings"
	"testing"
)

// frameworks are the import path fragments that only adapters may pull in.
var frameworks = []string{"gin-gonic", "gorilla"}

func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	return strings.Fields(string(out))
}

func TestCoreNeverCompilesFrameworks(t *testing.T) {
	for _, dep := range deps(t,
		"github.com/alipaynotify/alipaynotify",
		"github.com/alipaynotify/alipaynotify/middleware",
		"github.com/alipaynotify/alipaynotify/dedupe",
		"github.com/alipaynotify/alipaynotify/dedupe/redisstore",
		"github.com/alipaynotify/alipaynotify/alipaytest",
		"github.com/alipaynotify/alipaynotify/cmd/alipaysim",
		"github.com/alipaynotify/alipaynotify/examples/nethttp",
	) {
		for _, f := range frameworks {
			if strings.Contains(dep, f) {
				t.Errorf("a net/http user compiles %s", dep)
			}
		}
	}
}

// TestAdaptersDoCompileFrameworks keeps the check above honest: the same
// go list sees the frameworks where they belong.
func TestAdaptersDoCompileFrameworks(t *testing.T) {
	for pkg, want := range map[string]string{
		"github.com/alipaynotify/alipaynotify/adapters/gin": "github.com/gin-gonic/gin",
		"github.com/alipaynotify/alipaynotify/adapters/mux": "github.com/gorilla/mux",
	} {
		found := false
		for _, dep := range deps(t, pkg) {
			found = found || dep == want
		}
		if !found {
			t.Errorf("go list -deps %s does not list %s", pkg, want)
		}
	}
}
