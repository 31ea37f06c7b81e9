package redistest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

// TestShared writes through the shared standalone server and cluster, and
// checks that every cluster node serves the keys of its slots.
func TestShared(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: Addr(t)})
	defer c.Close()
	if err := c.Set(ctx, "redistest:shared", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if Addr(t) != c.Options().Addr {
		t.Fatal("Addr started a second server")
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: ClusterAddrs(t)})
	defer cc.Close()
	for i := range 30 {
		if err := cc.Set(ctx, fmt.Sprintf("redistest:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var masters atomic.Int32
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		masters.Add(1)
		return node.Ping(ctx).Err()
	}); err != nil || masters.Load() != 3 {
		t.Fatalf("%d masters, %v", masters.Load(), err)
	}
}

// TestRestart stops, kills and restarts a private server with persistence:
// the address stays, acknowledged writes survive, and Close removes the
// directory.
func TestRestart(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{AppendOnly: true})
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := s.Pid()
	s.Kill()
	if s.Running() || s.Pid() != 0 {
		t.Fatal("running after Kill")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Pid() == pid {
		t.Fatal("same pid after a restart")
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after kill -9 and restart: %q, %v", v, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Fatalf("directory left after Close: %v", err)
	}
}
