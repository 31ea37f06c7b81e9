package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// shared holds the servers Addr and ClusterAddrs started for this process.
var shared struct {
	mu         sync.Mutex
	main       bool // Main or Run is running the tests: it stops what we start
	standalone *Server
	cluster    *Cluster
	err        map[string]error // why starting the standalone or the cluster failed
}

// Main runs the tests and exits with their status, after stopping the
// servers Addr and ClusterAddrs started. Call it from the TestMain of every
// package that uses Addr or ClusterAddrs:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with more to do: it runs the tests, stops the
// shared servers and returns the tests' exit status.
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	defer stopShared()
	return m.Run()
}

func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.standalone != nil {
		_ = shared.standalone.Close()
		shared.standalone = nil
	}
	if shared.cluster != nil {
		_ = shared.cluster.Close()
		shared.cluster = nil
	}
}

// Addr returns the address of a standalone Redis for t to write to (under
// keys of its own): $ALIPAYNOTIFY_REDIS_ADDR when set, else a server started
// on first use and shared by the test binary's tests.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return addr
	}
	startShared(t, "standalone", EnvAddr, func(ctx context.Context) (err error) {
		if shared.standalone == nil {
			shared.standalone, err = Launch(ctx, Options{})
		}
		return err
	})
	return shared.standalone.Addr()
}

// ClusterAddrs returns the seed addresses of a Redis Cluster for t to write
// to: $ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS (comma-separated) when set, else a
// 3-master cluster started on first use and shared by the test binary's
// tests.
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	if addrs := os.Getenv(EnvClusterAddrs); addrs != "" {
		return strings.Split(addrs, ",")
	}
	startShared(t, "cluster", EnvClusterAddrs, func(ctx context.Context) (err error) {
		if shared.cluster == nil {
			shared.cluster, err = LaunchCluster(ctx, Options{})
		}
		return err
	})
	return shared.cluster.Addrs()
}

// startShared runs start under the lock, where start starts the shared
// deployment unless it is running. A failure is remembered: it ends t and
// every later caller.
func startShared(t testing.TB, name, env string, start func(context.Context) error) {
	t.Helper()
	if _, err := Bin(""); err != nil {
		skipUnlessCI(t, "no %s Redis: %s is not set and %v", name, env, err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatalf("redistest: starting a shared %s Redis needs the package's TestMain to call redistest.Main or redistest.Run, which stops it", name)
	}
	err, failed := shared.err[name]
	if !failed {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err = start(ctx); err != nil {
			if shared.err == nil {
				shared.err = map[string]error{}
			}
			shared.err[name] = err
		}
	}
	if err != nil {
		t.Fatalf("redistest: starting the shared %s Redis: %v", name, err)
	}
}

// Start starts a server of t's own and closes it (SIGTERM, then SIGKILL)
// when t ends. t is skipped when there is no redis-server, or fails when
// $CI is set.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := Bin(opts.Bin); err != nil {
		skipUnlessCI(t, "%v", err)
	}
	s, err := Launch(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// skipUnlessCI skips t, or fails it when $CI is set.
func skipUnlessCI(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (failing because CI is set: scripts/test.sh installs redis-server)", args...)
	}
	t.Skipf(format, args...)
}

// Cluster is a Redis Cluster of three masters without replicas, each a
// cluster-enabled [Server].
type Cluster struct {
	// Nodes are the masters.
	Nodes []*Server
}

// clusterSlots is the number of hash slots in a Redis Cluster.
const clusterSlots = 16384

// LaunchCluster starts three cluster-enabled nodes made from opts (with
// Dir, in its subdirectories node1 to node3), gives each a third of the hash
// slots, makes them meet and waits until every node reports
// cluster_state:ok. Close the cluster when done.
func LaunchCluster(ctx context.Context, opts Options) (*Cluster, error) {
	o := opts
	o.ClusterNode = true
	c := &Cluster{}
	if err := c.launch(ctx, o); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) launch(ctx context.Context, o Options) error {
	const masters = 3
	dir := o.Dir
	for i := range masters {
		if dir != "" {
			o.Dir = filepath.Join(dir, fmt.Sprintf("node%d", i+1))
			if err := os.MkdirAll(o.Dir, 0o755); err != nil {
				return err
			}
		}
		s, err := Launch(ctx, o)
		if err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, s)
	}
	clients := make([]*redis.Client, masters)
	for i, s := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: 2})
		defer clients[i].Close()
	}
	for i, client := range clients {
		// Distinct epochs, as redis-cli --cluster create sets them: no
		// epoch collision to resolve.
		if err := client.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("redistest: CLUSTER SET-CONFIG-EPOCH on %s: %w", c.Nodes[i].Addr(), err)
		}
		first, last := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
		if err := client.ClusterAddSlotsRange(ctx, first, last).Err(); err != nil {
			return fmt.Errorf("redistest: CLUSTER ADDSLOTS %d-%d on %s: %w", first, last, c.Nodes[i].Addr(), err)
		}
	}
	for _, s := range c.Nodes[1:] {
		if err := clients[0].ClusterMeet(ctx, "127.0.0.1", fmt.Sprint(s.Port())).Err(); err != nil {
			return fmt.Errorf("redistest: CLUSTER MEET %s: %w", s.Addr(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var notOK error
		for i, client := range clients {
			info, err := client.ClusterInfo(ctx).Result()
			if err == nil && (infoField(info, "cluster_state") != "ok" ||
				infoField(info, "cluster_slots_ok") != fmt.Sprint(clusterSlots) ||
				infoField(info, "cluster_known_nodes") != fmt.Sprint(masters)) {
				err = fmt.Errorf("CLUSTER INFO:\n%s", info)
			}
			if err != nil {
				notOK = fmt.Errorf("node %s: %w", c.Nodes[i].Addr(), err)
				break
			}
		}
		if notOK == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: the cluster is not ok: %w", errors.Join(ctx.Err(), notOK))
		case <-tick.C:
		}
	}
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Close closes every node.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.Nodes {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
