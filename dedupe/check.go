package dedupe

import (
	"fmt"
	"time"
)

// The argument checks every Store makes before it acts. They are exported so
// that third-party stores are held to the same rules as the memory and Redis
// stores (package storetest asserts them): a Store method calls its check
// first and returns its error as it is, or wrapped with %w.

// CheckClaim reports why a Store cannot act on the arguments of Claim: an
// empty ev.Trade, ev.ID or entry of ev.Outranked, or a lease that is not
// positive. The error wraps ErrInvalidArgument and names the argument, never
// its value. nil means the arguments are valid.
func CheckClaim(ev Event, lease time.Duration) error {
	if err := checkEvent("claim", ev); err != nil {
		return err
	}
	return checkPositive("claim", "lease", lease)
}

// CheckExtend is CheckClaim for Extend, which also needs a token.
func CheckExtend(ev Event, token string, lease time.Duration) error {
	if err := checkOwnerCall("extend", ev, token); err != nil {
		return err
	}
	return checkPositive("extend", "lease", lease)
}

// CheckComplete is CheckClaim for Complete, which needs a token and a
// positive done.Retention.
func CheckComplete(ev Event, token string, done Completion) error {
	if err := checkOwnerCall("complete", ev, token); err != nil {
		return err
	}
	return checkPositive("complete", "retention", done.Retention)
}

// CheckRelease is CheckClaim for Release, which needs a token and no
// duration.
func CheckRelease(ev Event, token string) error {
	return checkOwnerCall("release", ev, token)
}

// checkEvent reports, wrapping ErrInvalidArgument, why op cannot act on ev.
func checkEvent(op string, ev Event) error {
	if ev.Trade == "" {
		return fmt.Errorf("%w: %s: empty Event.Trade", ErrInvalidArgument, op)
	}
	if ev.ID == "" {
		return fmt.Errorf("%w: %s: empty Event.ID", ErrInvalidArgument, op)
	}
	for i, id := range ev.Outranked {
		if id == "" {
			return fmt.Errorf("%w: %s: empty Event.Outranked[%d]", ErrInvalidArgument, op, i)
		}
	}
	return nil
}

// checkOwnerCall checks the arguments that the owner calls (Extend, Complete,
// Release) share: the event and the token.
func checkOwnerCall(op string, ev Event, token string) error {
	if err := checkEvent(op, ev); err != nil {
		return err
	}
	if token == "" {
		return fmt.Errorf("%w: %s: empty token", ErrInvalidArgument, op)
	}
	return nil
}

// checkPositive reports, wrapping ErrInvalidArgument, a duration that is not
// positive.
func checkPositive(op, name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: %s: %s %v is not positive", ErrInvalidArgument, op, name, d)
	}
	return nil
}
