//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr runs a detached server in its own session, so that it
// outlives its parent and a terminal's signals. Other servers are left in
// the parent's process group.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return nil
}
