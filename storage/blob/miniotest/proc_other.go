//go:build !linux

package miniotest

import (
	"os"
	"syscall"
)

// sysProcAttr has no way to tie the server's life to the test binary's
// outside Linux; Main and Start's cleanup stop it on a normal exit.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminate(p *os.Process) error { return p.Kill() }
