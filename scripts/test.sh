#!/usr/bin/env bash
# Builds and runs every test with one torch thread, then prints "N passed, N failed" (from the TRX results).
# Extra arguments go to dotnet test, e.g. scripts/test.sh --filter Category=Golden
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
results=artifacts/test-results
rm -rf "$results"
dotnet build UniPerceiverMoe.Actors.sln -c Release -nologo -v q -clp:ErrorsOnly
set +e
dotnet test UniPerceiverMoe.Actors.sln -c Release --no-build --nologo --logger trx --results-directory "$results" "$@"
status=$?
set -e
passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
# A test host that crashes aborts its run: the TRX counts only the tests that finished, none of them failed. Such a run
# must not read as green, so it counts as one failure.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test: dotnet test exited with $status but no test failed: a test run was aborted (a test host crashed?); counted as 1 failure" >&2
  failed=1
fi
echo "$passed passed, $failed failed"
if [ "$passed" -eq 0 ]; then echo "test: no test ran" >&2; exit 1; fi
if [ "$failed" -ne 0 ] || [ "$status" -ne 0 ]; then exit 1; fi
