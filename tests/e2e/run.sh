#!/usr/bin/env bash
# The playground's browser tests, self-contained: installs Chromium and the Node dependencies
# when missing, builds the server, starts it on a free loopback port with its own state
# directory and API key, runs `node --test`, stops the server and exits with the tests' code.
#
#   tests/e2e/run.sh                      # all tests
#   tests/e2e/run.sh --test-name-pattern=restart
#
# Screenshots of the main states are written to docs/screenshots/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

log() { printf '[e2e] %s\n' "$*" >&2; }

if [ ! -x "$CHROMIUM_PATH" ]; then
  log "installing chromium with apt"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  log "installing node dependencies"
  (cd "$here" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi)
fi

log "building the server"
dotnet build "$repo/src/Vivarium.Server" -c Release --nologo -v quiet -clp:NoSummary >&2
server_dll="$repo/src/Vivarium.Server/bin/Release/net10.0/Vivarium.Server.dll"

port="$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")"
state="$(mktemp -d /tmp/vivarium-e2e-XXXXXX)"
server_log="$state.log"
api_key="e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
url="http://127.0.0.1:$port"

log "starting the server on $url (state $state, log $server_log)"
VIVARIUM_API_KEY="$api_key" dotnet "$server_dll" \
  --urls "$url" \
  "--Vivarium:Sandbox:StateDirectory=$state" \
  --Vivarium:Pool:Size=1 \
  --Logging:LogLevel:Default=Warning \
  >"$server_log" 2>&1 &
server_pid=$!

stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}
trap stop_server EXIT

ready=""
for _ in $(seq 1 240); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the server exited while starting:"
    cat "$server_log" >&2
    exit 1
  fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" || true)" = "200" ]; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  log "the server was not ready after 120 s:"
  cat "$server_log" >&2
  exit 1
fi

log "running the tests"
set +e
(cd "$here" && VIVARIUM_URL="$url" VIVARIUM_API_KEY="$api_key" \
  SCREENSHOT_DIR="$repo/docs/screenshots" \
  node --test --test-concurrency=1 "$@" unit.test.mjs playground.test.mjs)
code=$?
set -e
if [ "$code" -ne 0 ]; then
  log "tests failed; the end of the server's log ($server_log):"
  tail -n 50 "$server_log" >&2 || true
else
  rm -f "$server_log"
fi
exit "$code"
