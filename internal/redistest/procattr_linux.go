package redistest

import "syscall"

// sysProcAttr runs a detached server in its own session, so that it
// outlives its parent and a terminal's signals, and has any other server
// killed when the thread that started it exits (the test binary's end, even
// on a panic or a -timeout).
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
