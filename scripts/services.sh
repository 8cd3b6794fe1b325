#!/usr/bin/env bash
# Installs or starts what `make test` needs: PostgreSQL, Redis, the MinIO
# server binary (tests start MinIO themselves on a free port) and Node.js (the
# tus-js-client test). Idempotent.
# On failure it prints one line naming what is missing and exits non-zero.
set -uo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
PG_HOST="${PGHOST_TEST:-127.0.0.1}"

fail() { echo "make services: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  have apt-get || return 1
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

pg_up() { have pg_isready && pg_isready -q -h "$PG_HOST" -p 5432; }
if ! pg_up; then
  if ! have pg_ctlcluster; then
    apt_install postgresql || fail "PostgreSQL is not installed and apt-get install postgresql failed"
  fi
  ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
  [ -n "$ver" ] || fail "PostgreSQL has no cluster in /etc/postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || fail "PostgreSQL is not answering on $PG_HOST:5432"
fi
# The tests connect as postgres without a password (trust on loopback).
psql -h "$PG_HOST" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 \
  || fail "PostgreSQL at $PG_HOST:5432 refuses user postgres without a password (tests need trust auth on loopback)"

redis_up() { have redis-cli && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
if ! redis_up; then
  have redis-server || apt_install redis-server redis-tools || fail "Redis is not installed and apt-get install redis-server failed"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --maxmemory-policy noeviction --dir /tmp >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  redis_up || fail "Redis is not answering on 127.0.0.1:6379"
fi

# The tus-js-client test (mobile/) runs the independent tus client under Node.js;
# its npm package comes from a committed lock file on first use.
if ! have node || ! have npm; then
  apt_install nodejs npm || fail "Node.js is not installed and apt-get install nodejs npm failed (the tus-js-client test needs it)"
fi

gobin="$(go env GOBIN)"; [ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
if [ -z "${MINIO_BIN:-}" ] && ! have minio && [ ! -x "$gobin/minio" ]; then
  echo "make services: building the MinIO server (first time only, a few minutes)..." >&2
  GOFLAGS=-buildvcs=false go install "github.com/minio/minio@${MINIO_VERSION}" >/tmp/minio-install.log 2>&1 \
    || fail "could not build the MinIO server (go install github.com/minio/minio@${MINIO_VERSION}); see /tmp/minio-install.log"
fi
echo "services: PostgreSQL, Redis, MinIO and Node.js ready"
