package miniotest

import (
	"os"
	"syscall"
)

// sysProcAttr puts the server in its own process group, so a terminal's
// Ctrl-C reaches only the test binary, which then stops it; and has the
// kernel kill it if the test binary dies first (killed, or timed out), so no
// server outlives its tests. Pdeathsig fires when the thread that started the
// child exits; Go keeps that thread unless a goroutine locks and abandons it,
// which nothing here does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminate signals the server's whole process group.
func terminate(p *os.Process) error {
	return syscall.Kill(-p.Pid, syscall.SIGTERM)
}
