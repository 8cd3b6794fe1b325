// Command fieldsync is the whole fieldsync backend in one binary: the HTTP
// API (serve), the job worker (worker), both on the embedded default in one
// process (dev), schema migrations (migrate), demo data (seed) and its
// version (version).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	// Embedded zone data: organizations schedule in their own time zone even
	// on a minimal container image without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, env *runEnv, args []string) error
}

// runEnv is what a subcommand may touch of the outside world, injected so
// tests run subcommands in-process.
type runEnv struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	// ready, if set, receives the HTTP address once serve or dev listens.
	ready func(addr string)
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP API (production shape: PostgreSQL, Redis, MinIO)",
			"fieldsync serve\n\nRuns the HTTP API. It needs REDIS_URL and FIELDSYNC_JWT_KEYS, refuses to start on a\nstale database schema (run `fieldsync migrate` first) and never seeds demo data.", runServe},
		{"worker", "run background jobs and the outbox relay",
			"fieldsync worker\n\nRuns asynq job handlers and relays the transactional outbox to the job queue. Needs REDIS_URL.", runWorker},
		{"dev", "run API and worker in one process on the embedded default, with demo data",
			"fieldsync dev\n\nStarts API and worker in one process with zero configuration: SQLite and a photo\ndirectory under FIELDSYNC_DATA_DIR, an in-process Redis, generated signing keys. Applies\nmigrations, seeds the demo organization once, and prints the URL and demo sign-ins.\nJobs scheduled in dev do not survive a restart.", runDev},
		{"migrate", "apply pending database migrations",
			"fieldsync migrate [--status]\n\nApplies every pending migration embedded in this binary to DATABASE_URL (or the\nembedded SQLite). --status prints the current and latest versions without changing anything.", runMigrate},
		{"seed", "load the demo organization into the database",
			"fieldsync seed\n\nLoads the demo organizations, users (password in the README) and ~50 leads with\ncustomers, projects and appointments into DATABASE_URL. Safe to run twice: it does\nnothing if the demo organization exists. Never run it against production data.", runSeed},
		{"reset-sync", "make every device resync from scratch (after restoring a database backup)",
			"fieldsync reset-sync\n\nGives every organization a new sync epoch. Every device's next pull then starts a\nfull reset (keeping its unpushed changes) instead of trusting a cursor into a history\nthat the restore replaced. Run it after restoring DATABASE_URL from a backup.", runResetSync},
		{"sim", "run simulated phones against an in-process server under faults and check they converge",
			simUsage, runSim},
		{"version", "print the version",
			"fieldsync version\n\nPrints the version of this binary.", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &runEnv{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(run(ctx, env, os.Args[1:]))
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, env *runEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		if c.name == "sim" { // the one command with flags of its own
			if err := c.run(ctx, env, args[1:]); err != nil {
				fmt.Fprintf(env.stderr, "fieldsync %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(env.stderr)
		status := fs.Bool("status", false, "migrate only: print versions and change nothing")
		fs.Usage = func() {
			fmt.Fprintf(env.stdout, "usage: %s\n\n", c.usage)
			printEnv(env.stdout)
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if *status && c.name != "migrate" {
			fmt.Fprintf(env.stderr, "fieldsync %s: --status is only for migrate\n", c.name)
			return 2
		}
		rest := fs.Args()
		if *status {
			rest = append([]string{"--status"}, rest...)
		}
		if err := c.run(ctx, env, rest); err != nil {
			fmt.Fprintf(env.stderr, "fieldsync %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(env.stderr, "fieldsync: unknown command %q\n\n", args[0])
	printUsage(env.stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: fieldsync <command> [--help]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	printEnv(w)
}

func printEnv(w io.Writer) {
	fmt.Fprintln(w, "configuration (environment variables):")
	for _, v := range envVars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(w, "  %-29s %s (default: %s)\n", v.Name, v.Help, def)
	}
}

func runVersion(_ context.Context, env *runEnv, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(args, " "))
	}
	fmt.Fprintln(env.stdout, "fieldsync", version)
	return nil
}
