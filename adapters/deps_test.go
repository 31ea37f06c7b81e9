// Package adapters_test checks that the framework adapters and the
// observability packages stay optional: a merchant on plain net/http never
// compiles gin, gorilla/mux, Prometheus or OpenTelemetry, and never
// downloads them.
package adapters_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// frameworks are the import path fragments that only adapters may pull in.
var frameworks = []string{"gin-gonic", "gorilla"}

// observers are the import path fragments that only the packages under
// observe/ (and the examples that use them) may pull in.
var observers = []string{"github.com/prometheus/", "go.opentelemetry.io/"}

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
		for _, f := range append(frameworks, observers...) {
			if strings.Contains(dep, f) {
				t.Errorf("a net/http user compiles %s", dep)
			}
		}
	}
}

// TestCoreNeverCompilesObservers: the core, the reconciler and the router
// adapters never compile a metrics or tracing library; only a merchant who
// imports a package under observe/ does.
func TestCoreNeverCompilesObservers(t *testing.T) {
	for _, dep := range deps(t,
		"github.com/alipaynotify/alipaynotify/reconcile",
		"github.com/alipaynotify/alipaynotify/ops",
		"github.com/alipaynotify/alipaynotify/adapters/gin",
		"github.com/alipaynotify/alipaynotify/adapters/mux",
		"github.com/alipaynotify/alipaynotify/examples/gin",
		"github.com/alipaynotify/alipaynotify/examples/mux",
	) {
		for _, f := range observers {
			if strings.Contains(dep, f) {
				t.Errorf("a merchant who imports no observe/ package compiles %s", dep)
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
		// The same go list sees Prometheus and OpenTelemetry where they belong.
		"github.com/alipaynotify/alipaynotify/observe/prometheus": "github.com/prometheus/client_golang/prometheus",
		"github.com/alipaynotify/alipaynotify/observe/otel":       "go.opentelemetry.io/otel/trace",
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

// TestNetHTTPDownloadsNoFrameworks builds examples/nethttp, a plain net/http
// merchant, on an empty module cache and checks that the go command fetched
// no gin, gorilla/mux or Prometheus source: the module holds the adapters and
// observe/prometheus, but a merchant who does not import them never downloads
// their libraries. Building examples/ginprod the same way does fetch gin and
// Prometheus, which keeps the check honest. It
// needs the module proxy, so it is skipped with -short and when the proxy
// cannot be reached.
func TestNetHTTPDownloadsNoFrameworks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("downloads modules from the proxy: skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	goEnv := func(name string) string {
		out, err := exec.Command(goBin, "env", name).Output()
		if err != nil {
			t.Skipf("go env %s: %v: cannot tell which module proxy to use", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	proxy, flags := goEnv("GOPROXY"), goEnv("GOFLAGS")
	if proxy == "" || proxy == "off" {
		t.Skipf("GOPROXY=%q: no module proxy to download from", proxy)
	}

	// build builds pkg on an empty module cache and returns the cache. The
	// go command loads every package of the build first, downloading the
	// modules it needs; -n then only prints the compile steps, which would
	// take most of a minute in a fresh cache path and download nothing more.
	build := func(pkg string) (cache string) {
		cache = t.TempDir()
		cmd := exec.Command(goBin, "build", "-n", "-o", filepath.Join(t.TempDir(), "bin"), pkg)
		cmd.Env = append(os.Environ(),
			"GOMODCACHE="+cache,
			"GOPROXY="+proxy,
			// -modcacherw lets t.TempDir remove the downloaded modules.
			"GOFLAGS="+strings.TrimSpace(flags+" -mod=mod -modcacherw"),
		)
		if out, err := cmd.CombinedOutput(); err != nil {
			for _, offline := range []string{"dial tcp", "no such host", "i/o timeout", "connection refused", "network is unreachable", "proxyconnect", "TLS handshake timeout"} {
				if strings.Contains(string(out), offline) {
					t.Skipf("the module proxy %s cannot be reached (%s):\n%s", proxy, offline, out)
				}
			}
			t.Fatalf("go build %s on an empty module cache: %v\n%s", pkg, err, out)
		}
		return cache
	}
	// fetched lists the source of github.com/dir that is in cache: extracted
	// directories and the zips they come from (cache/download may also hold
	// go.mod files of the module graph, which are not source).
	fetched := func(cache, dir string) []string {
		var found []string
		if _, err := os.Stat(filepath.Join(cache, "github.com", dir)); err == nil {
			found = append(found, filepath.Join(cache, "github.com", dir))
		}
		err := filepath.WalkDir(filepath.Join(cache, "cache", "download", "github.com", dir), func(p string, _ fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".zip") {
				found = append(found, p)
			}
			return err
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return found
	}

	cache := build("github.com/alipaynotify/alipaynotify/examples/nethttp")
	if len(fetched(cache, "redis")) == 0 {
		t.Fatalf("building examples/nethttp downloaded no go-redis source into %s: is GOMODCACHE honoured?", cache)
	}
	for _, dir := range []string{"gin-gonic", "gorilla", "prometheus"} {
		if found := fetched(cache, dir); len(found) > 0 {
			t.Errorf("building a net/http program downloaded %s", strings.Join(found, ", "))
		}
	}
	// examples/ginprod uses gin and the Prometheus collector.
	cache = build("github.com/alipaynotify/alipaynotify/examples/ginprod")
	for _, dir := range []string{"gin-gonic", "prometheus"} {
		if len(fetched(cache, dir)) == 0 {
			t.Errorf("building examples/ginprod downloaded no %s source: the check above proves nothing", dir)
		}
	}
}
