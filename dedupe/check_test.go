package dedupe_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// TestChecks: the shared argument checks accept every valid call and refuse
// each broken rule with an error that wraps ErrInvalidArgument and names the
// argument without echoing a value.
func TestChecks(t *testing.T) {
	t.Parallel()
	ev := dedupe.Event{Trade: "m|ORDER-1", ID: "TRADE_SUCCESS", Outranked: []string{"TRADE_FINISHED"}}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for valid
	}{
		{"claim", dedupe.CheckClaim(ev, time.Second), ""},
		{"extend", dedupe.CheckExtend(ev, "tok", time.Second), ""},
		{"complete", dedupe.CheckComplete(ev, "tok", dedupe.Completion{Retention: time.Hour}), ""},
		{"release", dedupe.CheckRelease(ev, "tok"), ""},
		{"claim empty trade", dedupe.CheckClaim(dedupe.Event{ID: "X"}, time.Second), "dedupe: invalid argument: claim: empty Event.Trade"},
		{"claim empty ID", dedupe.CheckClaim(dedupe.Event{Trade: "T"}, time.Second), "dedupe: invalid argument: claim: empty Event.ID"},
		{"claim empty outranked", dedupe.CheckClaim(dedupe.Event{Trade: "T", ID: "X", Outranked: []string{"A", ""}}, time.Second), "dedupe: invalid argument: claim: empty Event.Outranked[1]"},
		{"claim zero lease", dedupe.CheckClaim(ev, 0), "dedupe: invalid argument: claim: lease 0s is not positive"},
		{"extend empty token", dedupe.CheckExtend(ev, "", time.Second), "dedupe: invalid argument: extend: empty token"},
		{"extend negative lease", dedupe.CheckExtend(ev, "tok", -time.Second), "dedupe: invalid argument: extend: lease -1s is not positive"},
		{"complete empty ID", dedupe.CheckComplete(dedupe.Event{Trade: "T"}, "tok", dedupe.Completion{Retention: time.Hour}), "dedupe: invalid argument: complete: empty Event.ID"},
		{"complete zero retention", dedupe.CheckComplete(ev, "tok", dedupe.Completion{}), "dedupe: invalid argument: complete: retention 0s is not positive"},
		{"release empty token", dedupe.CheckRelease(ev, ""), "dedupe: invalid argument: release: empty token"},
		{"release empty trade", dedupe.CheckRelease(dedupe.Event{ID: "X"}, "tok"), "dedupe: invalid argument: release: empty Event.Trade"},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: refused: %v", tc.name, tc.err)
		case tc.want == "":
		case !errors.Is(tc.err, dedupe.ErrInvalidArgument):
			t.Errorf("%s: %v, want an error matching ErrInvalidArgument", tc.name, tc.err)
		case tc.err.Error() != tc.want:
			t.Errorf("%s: %q, want %q", tc.name, tc.err, tc.want)
		}
	}
}

// A third-party store checks its arguments with the shared rules first, as
// the memory and Redis stores do; storetest.Run holds it to them.
func ExampleCheckClaim() {
	claim := func(ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
		if err := dedupe.CheckClaim(ev, lease); err != nil {
			return dedupe.Claim{}, fmt.Errorf("mystore: %w", err)
		}
		// ... one atomic step on the backing store ...
		return dedupe.Claim{State: dedupe.Claimed, Token: "t"}, nil
	}
	_, err := claim(dedupe.Event{Trade: "2021000000000001|ORDER-1"}, time.Minute)
	fmt.Println(errors.Is(err, dedupe.ErrInvalidArgument))
	fmt.Println(err)
	// Output:
	// true
	// mystore: dedupe: invalid argument: claim: empty Event.ID
}
