// Package procstop stops the child processes the benchmark commands start
// (redis-server, merchant and example servers).
package procstop

import (
	"os"
	"syscall"
	"time"
)

// Gracefully sends SIGTERM to p and waits until exited is closed (by the
// goroutine that waits for p). If p is still running after grace, it kills
// p, waits for it, and returns false.
func Gracefully(p *os.Process, exited <-chan struct{}, grace time.Duration) bool {
	p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return true
	case <-time.After(grace):
		p.Kill()
		<-exited
		return false
	}
}
