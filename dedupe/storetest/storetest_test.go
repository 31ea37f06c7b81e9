package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/storetest"
)

// zeroBusy is a buggy store: where another owner holds the claim, it answers
// the zero Claim with a nil error instead of Busy.
type zeroBusy struct{ *dedupe.MemoryStore }

func (s zeroBusy) Claim(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
	c, err := s.MemoryStore.Claim(ctx, ev, lease)
	if c.State == dedupe.Busy {
		return dedupe.Claim{}, err
	}
	return c, err
}

// emptyToken is a buggy store that takes claims without a token.
type emptyToken struct{ *dedupe.MemoryStore }

func (s emptyToken) Claim(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
	c, err := s.MemoryStore.Claim(ctx, ev, lease)
	c.Token = ""
	return c, err
}

// TestSuiteRejectsUnknownClaimStates runs the suite, in a child process,
// against stores that answer claim states the middleware does not know, and
// requires it to fail saying so.
func TestSuiteRejectsUnknownClaimStates(t *testing.T) {
	t.Parallel()
	if name := os.Getenv("STORETEST_BUGGY_STORE"); name != "" {
		storetest.Run(t, func(t *testing.T) dedupe.Store {
			mem := dedupe.NewMemoryStore()
			t.Cleanup(func() { mem.Close() })
			if name == "zero" {
				return zeroBusy{mem}
			}
			return emptyToken{mem}
		})
		return
	}
	for name, want := range map[string]string{
		"zero":  "Claim answered an unknown claim state 0",
		"token": "Claim answered claimed with an empty token",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteRejectsUnknownClaimStates$", "-test.count=1")
			cmd.Env = append(os.Environ(), "STORETEST_BUGGY_STORE="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that %s", want)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("the suite failed without saying %q:\n%s", want, out)
			}
		})
	}
}
