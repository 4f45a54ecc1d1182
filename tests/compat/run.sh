#!/usr/bin/env bash
# Runs the compatibility tests end to end: builds the server, starts it on 127.0.0.1 (a free
# port, a throwaway state directory, a one-sandbox pool), runs the Node tests against it with
# the real E2B SDK, stops it, and exits with the tests' code.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi

dotnet build "$root/src/Vivarium.Server" -c Release -nologo -v quiet

work="$(mktemp -d /tmp/vivarium-compat-XXXXXX)"
chmod 755 "$work" # sandboxes run as unprivileged users and must reach their workspaces
log="$work/server.log"
export VIVARIUM_API_KEY="compat-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# Port 0: Kestrel picks a free port and says which; no race with another process.
dotnet "$root/src/Vivarium.Server/bin/Release/net10.0/Vivarium.Server.dll" \
  --urls http://127.0.0.1:0 \
  --Vivarium:Sandbox:StateDirectory="$work/state" \
  --Vivarium:Pool:Size=1 \
  --Vivarium:Execution:InterruptGrace=00:00:02 \
  --Logging:LogLevel:Default=Warning \
  --Logging:LogLevel:Microsoft.Hosting.Lifetime=Information \
  >"$log" 2>&1 &
server=$!

stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

url=""
for _ in $(seq 1 1200); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server exited:" >&2; cat "$log" >&2; exit 1
  fi
  if grep -q "The sandbox backend could not start" "$log"; then
    echo "the sandbox backend failed:" >&2; cat "$log" >&2; exit 1
  fi
  if [ -z "$url" ]; then
    url="$(sed -n 's/.*Now listening on: \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$log" | head -n1)"
  fi
  if [ -n "$url" ] && curl -fsS "$url/readyz" >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
if [ -z "$url" ] || ! curl -fsS "$url/readyz" >/dev/null 2>&1; then
  echo "the server did not become ready in 120 s:" >&2; cat "$log" >&2; exit 1
fi
echo "Vivarium at $url"

code=0
VIVARIUM_URL="$url" node --test --test-concurrency=1 "$@" e2b.test.mjs terrarium.test.mjs || code=$?
if [ "$code" -ne 0 ]; then
  echo "--- server log (tail) ---" >&2
  tail -n 60 "$log" >&2
fi
exit "$code"
