package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// pgBinDir is where Debian and Ubuntu install the PostgreSQL 15 server.
const pgBinDir = "/usr/lib/postgresql/15/bin"

// privatePG is a PostgreSQL server the sim starts for itself, on its own
// port and data directory, so restarting it disturbs nothing else. initdb
// refuses to run as root, so as root it runs as the postgres OS user.
type privatePG struct {
	dir  string
	port int
	asPG bool
}

func startPrivatePG(ctx context.Context) (*privatePG, error) {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBinDir, b)); err != nil {
			return nil, fmt.Errorf("private PostgreSQL: %s not found in %s (install postgresql-15): %w", b, pgBinDir, err)
		}
	}
	dir, err := os.MkdirTemp("", "fieldsync-sim-pg-")
	if err != nil {
		return nil, err
	}
	pg := &privatePG{dir: dir, asPG: os.Geteuid() == 0}
	if pg.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("private PostgreSQL: running as root needs the postgres OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	pg.port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	data := filepath.Join(dir, "data")
	if err := pg.run(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", pg.port, dir)
	if err := pg.run(ctx, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return pg, nil
}

func (pg *privatePG) run(ctx context.Context, bin string, args ...string) error {
	name := filepath.Join(pgBinDir, bin)
	if pg.asPG {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("private PostgreSQL: %s: %w\n%s", bin, err, out)
	}
	return nil
}

// url is the private server's postgres database.
func (pg *privatePG) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// restart stops the server the fast way (every connection is cut, open
// transactions roll back) and starts it again on the same port.
func (pg *privatePG) restart(ctx context.Context) error {
	// -l again: without it the new server would write to pg_ctl's output,
	// which it keeps open, and the command would never return.
	return pg.run(ctx, "pg_ctl", "-D", filepath.Join(pg.dir, "data"), "-l", filepath.Join(pg.dir, "server.log"),
		"-m", "fast", "-w", "-t", "60", "restart")
}

// stop ends the server and removes its files.
func (pg *privatePG) stop() {
	_ = pg.run(context.Background(), "pg_ctl", "-D", filepath.Join(pg.dir, "data"), "-m", "immediate", "-w", "stop")
	_ = os.RemoveAll(pg.dir)
}
