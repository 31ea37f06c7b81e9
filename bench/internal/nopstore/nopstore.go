// Package nopstore is a dedupe.Store that turns dedupe off: every claim is
// granted and nothing is remembered. It exists only to measure what dedupe
// costs; a merchant must never use it.
package nopstore

import (
	"context"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Store grants every claim with the same token and remembers nothing.
type Store struct{}

var _ dedupe.Store = Store{}

// Claim always reports Claimed.
func (Store) Claim(context.Context, dedupe.Event, time.Duration) (dedupe.Claim, error) {
	return dedupe.Claim{State: dedupe.Claimed, Token: "nop"}, nil
}

// Extend always succeeds.
func (Store) Extend(context.Context, dedupe.Event, string, time.Duration) (bool, error) {
	return true, nil
}

// Complete always succeeds and writes nothing.
func (Store) Complete(context.Context, dedupe.Event, string, dedupe.Completion) (bool, error) {
	return true, nil
}

// Release always succeeds.
func (Store) Release(context.Context, dedupe.Event, string) (bool, error) { return true, nil }
