#!/usr/bin/env bash
# Generates the Java and Objective-C bindings of the mobile client facade
# (mobile/client/mobileapi) with gobind, pinned by go.mod, into a temporary
# directory, and fails if gobind skipped anything: a type gomobile cannot
# carry would otherwise just be left out of the app's API. Needs only Go;
# no Android SDK or Xcode.
set -euo pipefail
GO="${GO:-go}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$GO" run golang.org/x/mobile/cmd/gobind -lang=java,objc -outdir "$out" ./mobile/client/mobileapi
if grep -rn "skipped" "$out/java" "$out/src/gobind" --include='*.java' --include='*.h' >/dev/null; then
  echo "gobind skipped part of mobile/client/mobileapi (a type gomobile does not support):"
  grep -rn "skipped" "$out/java" "$out/src/gobind" --include='*.java' --include='*.h'
  exit 1
fi
for f in java/mobileapi/Client.java src/gobind/Mobileapi.objc.h; do
  [ -s "$out/$f" ] || { echo "gobind did not generate $f"; exit 1; }
done
echo "gobind: Java and Objective-C bindings of mobile/client/mobileapi generated"
