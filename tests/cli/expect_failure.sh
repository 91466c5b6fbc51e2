#!/usr/bin/env bash
# expect_failure.sh EXIT_CODE REGEX [--no-file PATH] -- COMMAND...
# Passes when COMMAND exits with EXIT_CODE, prints exactly one line on stderr that matches the
# extended REGEX, and (with --no-file) leaves no file at PATH nor PATH.tmp.
set -u
expected_code=$1; pattern=$2; shift 2
absent=""
if [ "${1:-}" = "--no-file" ]; then absent=$2; shift 2; fi
[ "${1:-}" = "--" ] && shift
stderr_file=$(mktemp)
"$@" >/dev/null 2>"$stderr_file"
code=$?
lines=$(wc -l <"$stderr_file")
message=$(cat "$stderr_file")
rm -f "$stderr_file"
fail() { echo "FAIL: $*"; echo "command: $*"; echo "stderr: $message"; exit 1; }
[ "$code" = "$expected_code" ] || fail "exit code $code, expected $expected_code"
[ "$lines" = "1" ] || fail "$lines lines on stderr, expected exactly 1"
echo "$message" | grep -Eq -- "$pattern" || fail "message does not match /$pattern/"
if [ -n "$absent" ] && { [ -e "$absent" ] || [ -e "$absent.tmp" ]; }; then fail "output $absent was left behind"; fi
echo "ok: $message"
