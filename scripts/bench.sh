#!/usr/bin/env bash
# `make bench`: runs the sync benchmarks (cmd/fieldsync/bench_test.go, build
# tag bench: `fieldsync serve` as a separate process, pgbench beside it) and
# every other Go benchmark of the module, then replaces the figures block of
# docs/benchmarks.md (between <!-- bench:start --> and <!-- bench:end -->)
# with what this run measured. The prose around the block is left alone.
# Nothing is written to the doc if a benchmark fails.
#
# Needs PostgreSQL and Redis running (`make services`) and pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."

GO="${GO:-go}"
DOC="docs/benchmarks.md"
START="<!-- bench:start -->"
END="<!-- bench:end -->"

command -v pgbench >/dev/null 2>&1 \
  || { echo "make bench: pgbench not found (apt-get install -y postgresql-client)" >&2; exit 1; }
# The photo benchmark compares against vipsthumbnail and reads the JPEGs of
# Debian's ukui-wallpapers package (apt-get download, cached per user).
if ! command -v vipsthumbnail >/dev/null 2>&1; then
  echo "== installing libvips-tools (vipsthumbnail) for the photo benchmark"
  { apt-get install -y libvips-tools >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && apt-get install -y libvips-tools >/dev/null 2>&1; }; } \
    || { echo "make bench: vipsthumbnail not found and apt-get install -y libvips-tools failed" >&2; exit 1; }
fi
grep -qxF "$START" "$DOC" && grep -qxF "$END" "$DOC" \
  || { echo "make bench: $DOC lacks the $START / $END lines" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== sync and photo benchmarks (5 to 7 minutes)"
FIELDSYNC_BENCH_REPORT="$tmp/sync.md" FIELDSYNC_ALERT_BENCH_REPORT="$tmp/alerts.md" \
  "$GO" test -tags bench -run '^$' -bench . -benchtime 1x -count=1 -timeout 20m ./cmd/fieldsync/ \
  | tee "$tmp/sync.txt"
[ -s "$tmp/sync.md" ] || { echo "make bench: the sync benchmarks wrote no report" >&2; exit 1; }

echo "== Go benchmarks of the other packages"
# Only the packages that have one, so that no time goes into building the
# test binaries of the rest; files behind the bench tag are the ones above.
pkgs="$(grep -rlE --include='*_test.go' '^func Benchmark' . 2>/dev/null \
  | xargs -r grep -L '^//go:build bench' | xargs -r -n1 dirname | sort -u | sed 's|^\./||; s|^|./|')"
: >"$tmp/go.txt"
if [ -n "$pkgs" ]; then
  # shellcheck disable=SC2086 # one argument per package
  "$GO" test -run '^$' -bench . -benchmem -count=1 $pkgs | tee "$tmp/go.txt"
else
  echo "none"
fi

{
  echo "$START"
  cat "$tmp/sync.md"
  # --- lead alerts (cmd/fieldsync/alerts_bench_test.go, same go test run) ---
  if [ -s "$tmp/alerts.md" ]; then
    echo
    cat "$tmp/alerts.md"
  fi
  echo
  echo "### Go benchmarks of the other packages"
  echo
  echo 'Command: `go test -run '"'"'^$'"'"' -bench . -benchmem -count=1 <the packages that have Go benchmarks>` (same run, same machine).'
  echo
  if grep -q '^Benchmark' "$tmp/go.txt"; then
    echo '```'
    grep -E '^(goos|goarch|pkg|cpu|Benchmark)' "$tmp/go.txt"
    echo '```'
  else
    echo "None yet: no package has a Go benchmark."
  fi
  echo "$END"
} >"$tmp/block.md"

# Splice the block in place of the old one.
awk -v start="$START" -v end="$END" -v block="$tmp/block.md" '
  $0 == start { while ((getline line < block) > 0) print line; skip = 1; next }
  $0 == end   { skip = 0; next }
  !skip       { print }
' "$DOC" >"$tmp/doc.md"
cp "$tmp/doc.md" "$DOC"
echo "== figures written to $DOC"
