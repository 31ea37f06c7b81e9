package dedupe

import "errors"

// ErrInvalidArgument is wrapped by the error a Store returns when it cannot
// act on its arguments: an empty Event.Trade or Event.ID, an empty entry in
// Event.Outranked, an empty token, or a lease or retention that is not
// positive (what CheckClaim, CheckExtend, CheckComplete and CheckRelease
// refuse). It marks a bug in the caller, not a failure of the store; the
// wrapping error says which argument was wrong but never echoes its value.
//
// Match it with errors.Is(err, dedupe.ErrInvalidArgument).
var ErrInvalidArgument = errors.New("dedupe: invalid argument")

// ErrClosed is returned by a Store that is used after its Close method was
// called. Stores that do not own their connection (such as the Redis store,
// whose client the caller closes) report their client's own error instead.
var ErrClosed = errors.New("dedupe: store closed")
