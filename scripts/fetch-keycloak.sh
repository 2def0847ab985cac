#!/usr/bin/env bash
# Fetch the Keycloak distribution (org.keycloak:keycloak-quarkus-dist zip) from Maven
# Central with Maven and unpack it into $CACHE/keycloak-<version>/.
# Idempotent: an unpacked distribution is reused. Prints the Keycloak home directory.
#
#   DCRSYNC_CACHE             cache root (default ~/.cache/dcrsync)
#   DCRSYNC_KEYCLOAK_VERSION  version to fetch (default below)
#
# Running it needs a JDK: tests/servers/keycloak.py picks one (DCRSYNC_KEYCLOAK_JAVA_HOME, else the
# newest JDK 21..25 found in JAVA_HOME, /usr/lib/jvm, /opt/java, ..., else `java` on PATH;
# 26.7.3 also starts on Java 17).
set -euo pipefail
TOOL=fetch-keycloak
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEYCLOAK_VERSION="${DCRSYNC_KEYCLOAK_VERSION:-26.7.3}"
DEST="$CACHE/keycloak-$KEYCLOAK_VERSION"

[[ -x "$DEST/bin/kc.sh" ]] && reuse "$DEST"
need mvn "install Maven 3 to fetch Keycloak"
command -v unzip >/dev/null || command -v python3 >/dev/null || die "need unzip or python3 to unpack"

scratch "$CACHE" "keycloak-$KEYCLOAK_VERSION"
TMP="$SCRATCH"

start=$SECONDS
say "downloading org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip with Maven"
if ! mvn -q -B dependency:copy \
      "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      "-DoutputDirectory=$TMP" >"$TMP/mvn.log" 2>&1; then
  tail -n 30 "$TMP/mvn.log" >&2
  die "mvn dependency:copy of org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip failed"
fi
ZIP="$TMP/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
[[ -f "$ZIP" ]] || die "Maven did not produce $ZIP"

mkdir "$TMP/unpacked"
if command -v unzip >/dev/null; then
  unzip -q "$ZIP" -d "$TMP/unpacked"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$ZIP" "$TMP/unpacked"
  chmod +x "$TMP"/unpacked/*/bin/*.sh
fi
top=("$TMP"/unpacked/*)
[[ ${#top[@]} -eq 1 && -x "${top[0]}/bin/kc.sh" ]] || die "unexpected layout in $ZIP (no */bin/kc.sh)"
rm -rf "$DEST"
mv "${top[0]}" "$DEST"
say "Keycloak $KEYCLOAK_VERSION unpacked in $((SECONDS - start)) s"
echo "$DEST"
