//go:build !unix

package redistest

import "syscall"

// sysProcAttr leaves the server in the parent's process group.
func sysProcAttr(bool) *syscall.SysProcAttr { return nil }
