#!/usr/bin/env bash
# Fills artifacts/gpu/ (ignored by git) with what scripts/gpu-check.sh needs on a GPU machine without internet:
#   torchsharp-native/      TorchSharp's native source (src/Native + LICENSE) at the commit of our managed TorchSharp,
#                           taken from a local clone of github.com/dotnet/TorchSharp with `git archive` (never committed)
#   LibTorchSharp.exports   the symbols the NuGet package's libLibTorchSharp.so exports (the build must export them all)
#   upmoe-linux-x64.tar.xz  `dotnet publish` of src/Host, self-contained, without the CPU libtorch native libraries
#   golden/                 the tiny golden checkpoint, config, vocabulary and only the input/output tensors checked
# Usage: scripts/gpu-prepare.sh TORCHSHARP_GIT_DIR   (a clone or bare mirror of dotnet/TorchSharp)
# Prints the total size at the end: carry artifacts/gpu (one path) to the GPU machine; it must stay under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

# The TorchSharp release our managed package is: Directory.Packages.props pins 0.107.0; this commit is the one whose
# build/BranchInfo.props says 0.107.0 and whose release notes top entry is "NuGet Version 0.107.0" (the repository
# has no v0.107.0 tag). Checked again below against the package's exports.
TORCHSHARP_COMMIT=c20b6a1cc574d690707638a488d2583f3b8b983f
TORCHSHARP_VERSION=0.107.0

mirror="${1:?usage: scripts/gpu-prepare.sh TORCHSHARP_GIT_DIR (a clone or bare mirror of dotnet/TorchSharp)}"
golden="${UPMOE_GOLDEN:-../shared/golden}"
out=artifacts/gpu
nuget="${NUGET_PACKAGES:-$HOME/.nuget/packages}"

for tool in git dotnet python3 nm xz tar; do
  command -v "$tool" >/dev/null || { echo "gpu-prepare: '$tool' is required" >&2; exit 1; }
done
grep -q "Include=\"TorchSharp\" Version=\"$TORCHSHARP_VERSION\"" Directory.Packages.props \
  || { echo "gpu-prepare: Directory.Packages.props no longer pins TorchSharp $TORCHSHARP_VERSION: update TORCHSHARP_COMMIT" >&2; exit 1; }
git --git-dir="$mirror" cat-file -e "$TORCHSHARP_COMMIT^{commit}" 2>/dev/null \
  || mirror="$mirror/.git"
git --git-dir="$mirror" cat-file -e "$TORCHSHARP_COMMIT^{commit}" \
  || { echo "gpu-prepare: $1 lacks TorchSharp commit $TORCHSHARP_COMMIT" >&2; exit 1; }
git --git-dir="$mirror" show "$TORCHSHARP_COMMIT:build/BranchInfo.props" | tr -d ' \n' \
  | grep -q "<MajorVersion>0</MajorVersion><MinorVersion>107</MinorVersion><PatchVersion>0</PatchVersion>" \
  || { echo "gpu-prepare: commit $TORCHSHARP_COMMIT is not TorchSharp $TORCHSHARP_VERSION (build/BranchInfo.props)" >&2; exit 1; }
[[ -f "$golden/tiny/model.pth" ]] || { echo "gpu-prepare: golden fixtures not found in $golden (set UPMOE_GOLDEN)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/torchsharp-native" "$out/golden"

echo "== TorchSharp native source ($TORCHSHARP_COMMIT)"
git --git-dir="$mirror" archive "$TORCHSHARP_COMMIT" src/Native LICENSE.txt THIRD-PARTY-NOTICES.TXT | tar -x -C "$out/torchsharp-native"
echo "$TORCHSHARP_COMMIT" > "$out/torchsharp-native/COMMIT"

echo "== exports of the NuGet package's libLibTorchSharp.so"
packaged="$nuget/torchsharp/$TORCHSHARP_VERSION/runtimes/linux-x64/native/libLibTorchSharp.so"
[[ -f "$packaged" ]] || { echo "gpu-prepare: $packaged not found (restore the solution first)" >&2; exit 1; }
nm -D --defined-only "$packaged" | awk '$2 == "T" { print $3 }' | sort -u > "$out/LibTorchSharp.exports"
# Every exported entry point must be declared in the source, else this is not the source of the package.
declared="$(mktemp)"
cat "$out"/torchsharp-native/src/Native/LibTorchSharp/*.{h,cpp} | grep -oP 'EXPORT_API\([^;{]*?\)\s*\K\w+(?=\s*\()' | sort -u > "$declared"
missing="$(comm -13 "$declared" "$out/LibTorchSharp.exports" | grep -v '^crc32c_' || true)"
rm -f "$declared"
if [[ -n "$missing" ]]; then
  echo "gpu-prepare: the source lacks $(wc -l <<< "$missing") export(s) of the package, e.g. $(head -3 <<< "$missing" | tr '\n' ' ')" >&2
  exit 1
fi
echo "   $(wc -l < "$out/LibTorchSharp.exports") exports, all declared in the source"

echo "== golden subset"
python3 scripts/gpu/golden.py subset "$golden/tiny/inputs.safetensors" "$out/golden/inputs.safetensors" image.in1k_224 image.clip_224 video.clip_224
python3 scripts/gpu/golden.py subset "$golden/tiny/outputs.safetensors" "$out/golden/outputs.safetensors" \
  feat.image_cls feat.video_retrieval caption.beam2.ids caption.beam2.score caption.beam2.eos_id
cp "$golden/tiny/model.pth" "$golden/tiny/config.json" "$out/golden/"
cp "$golden/bpe_simple_vocab_16e6.txt.gz" "$out/golden/"

echo "== dotnet publish src/Host (self-contained linux-x64, no CPU libtorch)"
publish="$(mktemp -d)"
trap 'rm -rf "$publish"' EXIT
dotnet publish src/Host -c Release -r linux-x64 --self-contained -o "$publish/upmoe" -nologo -v q -clp:ErrorsOnly \
  -p:DebugType=none -p:SatelliteResourceLanguages=en
# libtorch comes from the GPU machine's PyTorch and LibTorchSharp from the build there; diagnostics libraries are
# not needed to run.
( cd "$publish/upmoe" && rm -f libtorch*.so libc10*.so libgomp*.so* libLibTorchSharp.so libaoti_custom_ops.so \
    libbackend_with_compiler.so libjitbackend_test.so libnnapi_backend.so libshm.so libtorchbind_test.so \
    createdump libmscordaccore.so libmscordbi.so libcoreclrtraceptprovider.so )
tar -C "$publish/upmoe" -cf - . | xz -9 -T2 > "$out/upmoe-linux-x64.tar.xz"
# Back to this machine's build: a RID-specific restore must not stay in obj/ for the next `dotnet build`.
dotnet restore src/Host -v q >/dev/null

total=$(du -sb "$out" | cut -f1)
du -sh "$out"/* | sed 's/^/   /'
echo "artifacts/gpu: $((total / 1024 / 1024)) MiB ($total bytes; the carry limit is 64 MiB = 67108864 bytes)"
(( total < 67108864 )) || { echo "gpu-prepare: artifacts/gpu is over 64 MiB" >&2; exit 1; }
