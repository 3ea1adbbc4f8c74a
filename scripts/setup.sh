#!/usr/bin/env bash
# One-time set-up on a fresh machine: ffmpeg (video decoding), Debian's chromium (the live caption page test runs it
# headless), the CLIP BPE vocabulary (from npm), and a build.
# Idempotent: each step is skipped when already done. Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null; then
  echo "setup: the .NET 10 SDK is required (https://dotnet.microsoft.com/download)" >&2
  exit 1
fi

if ! command -v ffmpeg >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ffmpeg (Debian package)…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  else
    echo "setup: ffmpeg is missing; install it (e.g. sudo apt-get install -y ffmpeg) and run again" >&2
    exit 1
  fi
fi

# The live caption page test (tests/UniPerceiverMoe.Host.Tests/Server/PageSpecs.cs) drives /usr/bin/chromium headless.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing chromium (Debian package, for the page test)…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: /usr/bin/chromium is missing (the page test needs it); install it (e.g. sudo apt-get install -y chromium) and run again" >&2
    exit 1
  fi
fi

scripts/fetch-clip-vocab.sh

if [ "${1:-}" != "--no-build" ]; then
  echo "setup: building (Release)…"
  dotnet build UniPerceiverMoe.Actors.sln -c Release -nologo -v q -clp:ErrorsOnly
fi
