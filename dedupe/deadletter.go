package dedupe

import (
	"context"
	"fmt"
	"time"
)

// Bounds of one dead letter.
const (
	// MaxDeadLetterBody is the largest DeadLetter.Body a store keeps: the
	// middleware's limit on a callback's body (64 KiB).
	MaxDeadLetterBody = 64 << 10
	// MaxDeadLetterErr is the largest DeadLetter.Err a store keeps, in bytes.
	// A caller with a longer error message shortens it itself, visibly.
	MaxDeadLetterErr = 4 << 10
)

// Defaults and bounds of DeadLetterOptions.
const (
	// DefaultMaxDeadLetters is DeadLetterOptions.Max when left zero.
	DefaultMaxDeadLetters = 10_000
	// DefaultDeadLetterRetention is DeadLetterOptions.Retention when left
	// zero.
	DefaultDeadLetterRetention = 7 * 24 * time.Hour
	// MinDeadLetterRetention is the shortest DeadLetterOptions.Retention a
	// store accepts: Alipay retries a notification for about 25 hours, and an
	// operator needs time after that to look.
	MinDeadLetterRetention = 48 * time.Hour
)

// DeadLetter is a verified callback whose business handler failed, kept so
// that an operator can see why and replay it. There is one per event (Trade
// and ID): a repeated failure updates it.
//
// Body and Err are bytes from Alipay and from the merchant's handler: stores
// keep them as given and never log them, and so should their readers (Body
// holds personal data such as buyer IDs).
type DeadLetter struct {
	// Trade and ID name the event (Event.Trade and Event.ID).
	Trade, ID string
	// Source is how the callback arrived (see Completion.Source); stored as
	// given.
	Source string
	// Body is the callback as received and verified (the POST body, or the
	// query string of a return), the newest one: it verifies again. At most
	// MaxDeadLetterBody bytes, never empty.
	Body []byte
	// Err is the newest failure's error message, at most MaxDeadLetterErr
	// bytes.
	Err string
	// Attempts is how many failures were recorded for the event since the
	// entry was created. Set by the store.
	Attempts int
	// First and Last are when the first and the newest failure were recorded,
	// on the store's clock (millisecond precision). Set by the store.
	First, Last time.Time
}

// Recorded is the answer of DeadLetterStore.RecordFailure.
type Recorded struct {
	// Attempts is the entry's Attempts after recording: 1 for a new entry.
	Attempts int
	// Evicted is how many other entries were deleted to stay within
	// DeadLetterOptions.Max (the entries whose Last is oldest). The caller
	// should log it: those events can no longer be listed or replayed.
	Evicted int
}

// DeadLetterStore is implemented by stores that keep dead letters: the
// callbacks whose handler failed, bounded in count (DeadLetterOptions.Max)
// and kept for DeadLetterOptions.Retention after their last failure. Both
// stores of this module implement it; package storetest checks it when a
// store does.
type DeadLetterStore interface {
	// RecordFailure records a failure of the event dl.Trade, dl.ID: it
	// creates the entry (Attempts 1, First = Last = now) or updates it
	// (Attempts+1, First kept; Source, Body, Err and Last replaced), evicting
	// the entries with the oldest Last when a new entry would exceed the
	// store's maximum. dl.Attempts, First and Last are ignored. It fails with
	// ErrInvalidArgument for what CheckDeadLetter refuses.
	RecordFailure(ctx context.Context, dl DeadLetter) (Recorded, error)
	// ClearFailure deletes the event's entry, when the event was handled
	// after all, and reports whether there was one.
	ClearFailure(ctx context.Context, trade, id string) (bool, error)
	// DeadLetters returns up to limit (positive) entries, the oldest Last
	// first (ties in any order).
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// DeadLetter returns the event's entry and whether there is one.
	DeadLetter(ctx context.Context, trade, id string) (DeadLetter, bool, error)
}

// DeadLetterOptions bounds a store's dead letters. The zero value is valid
// and means the defaults.
type DeadLetterOptions struct {
	// Max is how many entries (distinct events) the store keeps at most; a
	// new entry beyond it evicts the one with the oldest Last. With Max and
	// the bounds of one entry, the memory dead letters may take is bounded:
	// Max × (MaxDeadLetterBody + MaxDeadLetterErr + the event's names), about
	// Max × 2 KB for typical 1.2 KB notifications.
	// Default: DefaultMaxDeadLetters. Negative is invalid.
	Max int
	// Retention is how long an entry is kept after its Last failure.
	// Default: DefaultDeadLetterRetention; at least MinDeadLetterRetention.
	Retention time.Duration
}

// Resolve returns o with its defaults filled in, or an error wrapping
// ErrInvalidArgument naming the field that is out of bounds. Stores call it
// once, when they are made.
func (o DeadLetterOptions) Resolve() (DeadLetterOptions, error) {
	switch {
	case o.Max < 0:
		return o, fmt.Errorf("%w: DeadLetterOptions.Max %d is negative", ErrInvalidArgument, o.Max)
	case o.Max == 0:
		o.Max = DefaultMaxDeadLetters
	}
	switch {
	case o.Retention == 0:
		o.Retention = DefaultDeadLetterRetention
	case o.Retention < MinDeadLetterRetention:
		return o, fmt.Errorf("%w: DeadLetterOptions.Retention %v is shorter than %v", ErrInvalidArgument, o.Retention, MinDeadLetterRetention)
	}
	return o, nil
}

// CheckDeadLetter reports, wrapping ErrInvalidArgument, why a store cannot
// record dl: an empty Trade, ID or Body, a Body over MaxDeadLetterBody or an
// Err over MaxDeadLetterErr. It names the field, never its value.
func CheckDeadLetter(dl DeadLetter) error {
	const op = "record failure"
	if err := checkTradeID(op, dl.Trade, dl.ID); err != nil {
		return err
	}
	switch {
	case len(dl.Body) == 0:
		return fmt.Errorf("%w: %s: empty Body", ErrInvalidArgument, op)
	case len(dl.Body) > MaxDeadLetterBody:
		return fmt.Errorf("%w: %s: Body of %d bytes, more than %d", ErrInvalidArgument, op, len(dl.Body), MaxDeadLetterBody)
	case len(dl.Err) > MaxDeadLetterErr:
		return fmt.Errorf("%w: %s: Err of %d bytes, more than %d", ErrInvalidArgument, op, len(dl.Err), MaxDeadLetterErr)
	}
	return nil
}

// CheckDeadLetterKey reports, wrapping ErrInvalidArgument, an empty trade or
// id given to ClearFailure or DeadLetter (op names the method).
func CheckDeadLetterKey(op, trade, id string) error {
	return checkTradeID(op, trade, id)
}

// CheckDeadLetterLimit reports, wrapping ErrInvalidArgument, a limit of
// DeadLetters that is not positive.
func CheckDeadLetterLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("%w: dead letters: limit %d is not positive", ErrInvalidArgument, limit)
	}
	return nil
}
