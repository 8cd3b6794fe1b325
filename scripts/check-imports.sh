#!/usr/bin/env bash
# Checks the import rules of docs/architecture.md mechanically:
#   domain   -> standard library only
#   sync     -> domain (and no third-party package at all)
#   storage/X, push, mobile, admin -> domain (+ sync for mobile/admin), their own subtree, libraries
#   jobs     -> domain, sync, push
#   cmd      -> anything (the only place concrete adapters meet)
# Test files are exempt: a test may wire real adapters together.
set -euo pipefail
MOD="github.com/iswitchroofs/fieldsync"
fail=0

# domain: its whole dependency closure is the standard library and itself.
bad=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./domain/... | grep -v "^$MOD/domain" || true)
if [ -n "$bad" ]; then echo "domain must import only the standard library; found: $bad"; fail=1; fi

# sync: no third-party code at all, only domain and itself.
if [ -d sync ]; then
  bad=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./sync/... | grep -v -e "^$MOD/domain" -e "^$MOD/sync" || true)
  if [ -n "$bad" ]; then echo "sync must import only domain and the standard library; found: $bad"; fail=1; fi
fi

# Project imports of every package, against the table.
allowed() { # package, imported project package -> 0 if allowed
  local pkg="${1#$MOD/}" imp="${2#$MOD/}"
  local top="${pkg%%/*}"
  case "$top" in
    cmd) return 0 ;;
    domain) [[ "$imp" == domain* ]] ;;
    sync) [[ "$imp" == domain* || "$imp" == sync* ]] ;;
    storage)
      local sub; sub="$(echo "$pkg" | cut -d/ -f1-2)"
      [[ "$imp" == domain* || "$imp" == "$sub" || "$imp" == "$sub"/* ]] ;;
    push) [[ "$imp" == domain* || "$imp" == push* ]] ;;
    jobs) [[ "$imp" == domain* || "$imp" == sync* || "$imp" == push* || "$imp" == jobs* ]] ;;
    mobile) [[ "$imp" == domain* || "$imp" == sync* || "$imp" == mobile* ]] ;;
    admin) [[ "$imp" == domain* || "$imp" == sync* || "$imp" == admin* ]] ;;
    *) echo "package $pkg is outside the layout of docs/architecture.md"; return 1 ;;
  esac
}
while read -r pkg imps; do
  for imp in $imps; do
    [[ "$imp" == "$MOD"/* ]] || continue
    if ! allowed "$pkg" "$imp"; then
      echo "import rule broken: ${pkg#$MOD/} imports ${imp#$MOD/}"
      fail=1
    fi
  done
done < <(go list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}' ./...)

if [ "$fail" -ne 0 ]; then exit 1; fi
echo "import rules: ok"
