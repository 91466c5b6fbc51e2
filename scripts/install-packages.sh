#!/usr/bin/env bash
# Installs those of the given Debian packages that are missing (apt-get, as root or via sudo);
# installs nothing when all are present. Shared by setup.sh, test.sh and fuzz.sh.
# Usage: scripts/install-packages.sh WHO PACKAGE...   (WHO prefixes the messages)
set -euo pipefail
who=$1; shift
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "$who: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "$who: these packages are missing and installing them needs root: ${missing[*]}" >&2; exit 1
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
