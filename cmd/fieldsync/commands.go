package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
)

// noArgs refuses arguments: every subcommand is configured by environment only.
func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(args, " "))
	}
	return nil
}

// openCore opens, in dependency order, what serve, worker and dev share:
// database, photo store and Redis. Only dev may migrate the schema and
// start an embedded Redis. The caller closes the system.
func openCore(ctx context.Context, env *runEnv, m mode) (*system, error) {
	s, err := newSystem(env, m)
	if err != nil {
		return nil, err
	}
	dev := m == modeDev
	if err := s.openStore(ctx, dev); err != nil {
		return s, err
	}
	if err := s.openBlobs(ctx); err != nil {
		return s, err
	}
	if err := s.openRedis(ctx, dev); err != nil {
		return s, err
	}
	if !dev {
		s.warnEmbedded()
	}
	return s, nil
}

// closeSystem closes whatever of s was opened, in reverse order; s may be
// nil when the configuration was refused.
func closeSystem(s *system) {
	if s != nil {
		s.close()
	}
}

func runServe(ctx context.Context, env *runEnv, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	s, err := openCore(ctx, env, modeServe)
	defer closeSystem(s)
	if err != nil {
		return err
	}
	if err := s.openAuth(false); err != nil {
		return err
	}
	s.openSync(ctx)
	errc, err := s.listen(s.httpApp(), env.ready)
	if err != nil {
		return err
	}
	return s.wait(ctx, errc)
}

func runWorker(ctx context.Context, env *runEnv, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	s, err := openCore(ctx, env, modeWorker)
	defer closeSystem(s)
	if err != nil {
		return err
	}
	if err := s.startWorker(ctx); err != nil {
		return err
	}
	// The probes open last, so a worker reports healthy only once it works.
	errc, err := s.listenOn(s.cfg.WorkerHTTPAddr, s.probesApp(), env.ready)
	if err != nil {
		return err
	}
	s.log.Info("worker running")
	return s.wait(ctx, errc)
}

func runDev(ctx context.Context, env *runEnv, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	s, err := openCore(ctx, env, modeDev)
	defer closeSystem(s)
	if err != nil {
		return err
	}
	if err := s.openAuth(true); err != nil {
		return err
	}
	s.openSync(ctx)
	seeded, err := seedDemo(ctx, s.store, s.clock)
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	if err := s.startWorker(ctx); err != nil {
		return err
	}
	errc, err := s.listen(s.httpApp(), nil)
	if err != nil {
		return err
	}
	printDevBanner(env, s.cfg, s.httpAddr, seeded)
	// Ready only after the banner: whoever waits on it reads the banner.
	if env.ready != nil {
		env.ready(s.httpAddr)
	}
	return s.wait(ctx, errc)
}

// warnEmbedded tells the operator when a production command runs on the
// embedded default's parts, which hold data on one machine only.
func (s *system) warnEmbedded() {
	if s.cfg.DatabaseURL == "" || !isPostgresURL(s.cfg.DatabaseURL) {
		s.log.Warn("running on SQLite: fine for one machine, but run PostgreSQL (DATABASE_URL=postgres://…) for replicas")
	}
	if s.cfg.MinIO.Endpoint == "" {
		s.log.Warn("photos go to a local directory: set MINIO_ENDPOINT so every replica sees them")
	}
}

// wait blocks until a shutdown signal or the HTTP server failing.
func (s *system) wait(ctx context.Context, errc <-chan error) error {
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
		return nil
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("http server: %w", err)
		}
		return errors.New("http server stopped unexpectedly")
	}
}

func runMigrate(ctx context.Context, env *runEnv, args []string) error {
	statusOnly := len(args) > 0 && args[0] == "--status"
	if statusOnly {
		args = args[1:]
	}
	if err := noArgs(args); err != nil {
		return err
	}
	s, err := newSystem(env, modeTool)
	if err != nil {
		return err
	}
	defer s.close()
	url, err := s.cfg.databaseURL()
	if err != nil {
		return err
	}
	st, err := sqlstore.Open(ctx, sqlstore.Config{URL: url, Clock: s.clock, Logger: s.log})
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	s.onClose("database", func(context.Context) error { return st.Close() })
	before, latest, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if statusOnly {
		fmt.Fprintf(env.stdout, "schema version %d, latest %d\n", before, latest)
		return nil
	}
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	after, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if after == before {
		fmt.Fprintf(env.stdout, "schema is current at version %d\n", after)
	} else {
		fmt.Fprintf(env.stdout, "migrated schema from version %d to %d\n", before, after)
	}
	return nil
}

func runSeed(ctx context.Context, env *runEnv, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	s, err := newSystem(env, modeTool)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.openStore(ctx, false); err != nil {
		return err
	}
	seeded, err := seedDemo(ctx, s.store, s.clock)
	if err != nil {
		return err
	}
	if seeded {
		fmt.Fprintln(env.stdout, "demo organizations seeded; sign-ins:")
	} else {
		fmt.Fprintln(env.stdout, "demo organizations already present; sign-ins:")
	}
	printSignIns(env)
	return nil
}

func runResetSync(ctx context.Context, env *runEnv, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	s, err := newSystem(env, modeTool)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.openStore(ctx, false); err != nil {
		return err
	}
	ids, err := s.store.OrganizationIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.store.RotateEpoch(ctx, id); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stdout, "new sync epoch for %d organizations: every device resets on its next pull\n", len(ids))
	return nil
}

func printDevBanner(env *runEnv, cfg Config, addr string, seeded bool) {
	w := env.stdout
	fmt.Fprintln(w)
	fmt.Fprintf(w, "fieldsync %s is running (embedded default: data in %s)\n", version, cfg.DataDir)
	fmt.Fprintf(w, "  API:     http://%s\n", addr)
	fmt.Fprintf(w, "  health:  http://%s/healthz   ready: http://%s/readyz   metrics: http://%s/metrics\n", addr, addr, addr)
	if seeded {
		fmt.Fprintln(w, "  demo data: seeded just now")
	}
	fmt.Fprintln(w, "  demo sign-ins:")
	printSignIns(env)
	fmt.Fprintln(w, "press Ctrl-C to stop")
}

func printSignIns(env *runEnv) {
	for _, u := range demoSignIns() {
		fmt.Fprintf(env.stdout, "    %-34s %-10s %s\n", u.email, u.role, demoPassword)
	}
}
