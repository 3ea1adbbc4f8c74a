#!/usr/bin/env bash
# Runs every benchmark of the project on this machine and keeps each output in artifacts/bench/<name>.txt.
# Benchmarks set their torch threads explicitly; run on an otherwise idle machine. Usage: scripts/bench.sh [quick]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Host -c Release -nologo -v q -clp:ErrorsOnly
upmoe() { dotnet src/Host/bin/Release/net10.0/upmoe.dll "$@"; }
out=artifacts/bench
mkdir -p "$out"
run() { local name=$1; shift; echo "== $name: upmoe $*"; upmoe "$@" 2>&1 | tee "$out/$name.txt" | tail -n 8; }
run engine-tiny bench engine --config tiny
run caption-tiny bench caption --config tiny
run streams bench streams --seconds 8
run streams-mix bench streams --mix caption,classify,watch --seconds 10
run cluster-tiny bench cluster --config tiny
if [ "${1:-}" != quick ]; then
  run engine-base bench engine --config base --rounds 5
  run caption-base bench caption --config base --rounds 1
  run cluster-base bench cluster --config base --requests 24
fi
