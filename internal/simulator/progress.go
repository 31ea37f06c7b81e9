package simulator

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// IsTerminal reports whether w is a character device (a terminal), the
// only place where a line rewritten in place makes sense.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ProgressPrinter shows the progress of a long run. On a terminal it keeps
// one status line up to date in place; elsewhere (a pipe, a CI log) it
// writes a plain line every Every. Use its Update method as
// Config.OnProgress.
type ProgressPrinter struct {
	tty   io.Writer // the terminal, or nil
	log   io.Writer
	every time.Duration

	mu      sync.Mutex
	last    time.Time
	printed bool
}

// NewProgressPrinter returns a printer that rewrites a line on out when out
// is a terminal, and otherwise writes a line to log every every (10s when
// zero).
func NewProgressPrinter(out, log io.Writer, every time.Duration) *ProgressPrinter {
	if every <= 0 {
		every = 10 * time.Second
	}
	p := &ProgressPrinter{log: log, every: every}
	if IsTerminal(out) {
		p.tty = out
	}
	return p
}

// Update shows pr. On the last update (pr.Finished) a terminal line is
// erased, so that what is printed next starts on a clean line; a log gets a
// final line only if it got earlier ones.
func (p *ProgressPrinter) Update(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := progressLine(pr)
	if p.tty != nil {
		if pr.Finished {
			if p.printed {
				fmt.Fprint(p.tty, "\r\x1b[K")
			}
			return
		}
		fmt.Fprintf(p.tty, "\r%s\x1b[K", line)
		p.printed = true
		return
	}
	now := time.Now()
	if pr.Finished && !p.printed {
		return
	}
	if !pr.Finished && p.last.IsZero() {
		p.last = now // the first line after one period, not at once
		return
	}
	if pr.Finished || now.Sub(p.last) >= p.every {
		fmt.Fprintln(p.log, line)
		p.last = now
		p.printed = true
	}
}

func progressLine(pr Progress) string {
	s := fmt.Sprintf("alipaysim %s (wall %s): %d/%d done, %d/%d acknowledged",
		FormatSim(pr.Simulated), pr.Wall.Round(100*time.Millisecond), pr.Done, pr.Events, pr.Acknowledged, pr.Notifications)
	if pr.GaveUp > 0 {
		s += fmt.Sprintf(", %d gave up", pr.GaveUp)
	}
	if pr.Hostile > 0 {
		s += fmt.Sprintf(", %d/%d hostile refused", pr.Refused, pr.Hostile)
	}
	s += fmt.Sprintf(", %d deliveries", pr.Deliveries)
	if pr.Waiting > 0 {
		s += fmt.Sprintf(", next %s (%d waiting)", FormatSim(pr.NextAt), pr.Waiting)
	}
	if pr.Behind {
		s += ", BEHIND SCHEDULE"
	}
	return s
}
