#!/usr/bin/env bash
# The GPU proof: on a machine with an NVIDIA GPU, PyTorch (CUDA) and no internet, builds TorchSharp's native
# LibTorchSharp against that PyTorch's libtorch, runs the published upmoe on cuda:0 against the golden outputs and
# runs `upmoe bench engine --config base` there. Writes $OUT/gpu-report.md (one page) plus the logs it is made from.
#
# Needs artifacts/gpu/ from scripts/gpu-prepare.sh (carried to the machine; see README "GPU"). Run from the repo root:
#   OUT=/some/dir scripts/gpu-check.sh            (OUT defaults to artifacts/gpu/out)
# Dry run without a GPU (what this script can prove on a CPU machine): point it at a CPU libtorch and a prebuilt
# LibTorchSharp, and choose the device and a smaller benchmark:
#   UPMOE_TORCH_LIB=DIR UPMOE_LIBTORCHSHARP=FILE UPMOE_GPU_CHECK_DEVICE=cpu UPMOE_GPU_CHECK_BENCH="--config tiny --rounds 2"
# Exit status: 0 when every golden check is within tolerance and the benchmark ran; 1 otherwise; 2 when a tool is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

G="${UPMOE_GPU_ARTIFACTS:-artifacts/gpu}"
OUT="${OUT:-$G/out}"
DEVICE="${UPMOE_GPU_CHECK_DEVICE:-cuda:0}"
BENCH_ARGS="${UPMOE_GPU_CHECK_BENCH:---config base --rounds 5}"
# Whole-run budget in seconds: steps are cut to what is left, optional ones skipped when it runs short, so the report
# is always written (the device lease is short).
BUDGET="${UPMOE_GPU_CHECK_SECONDS:-480}"
JOBS="$(nproc 2>/dev/null || echo 4)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/upmoe-gpu.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$OUT/results"
mkdir -p "$RESULTS"
: > "$OUT/steps.tsv"

say() { echo "[gpu-check $((SECONDS - started))s] $*"; }
die() { say "FAILED: $1"; echo "$1" > "$OUT/failure.txt"; report; exit "${2:-1}"; }
# step NAME TIMEOUT_S CMD...: runs CMD (a command or an exported function) with a time limit, logs to $OUT/NAME.log,
# records status and seconds.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS rc=0 left=$((BUDGET - 20 - (SECONDS - started)))
  (( left < limit )) && limit=$left
  (( limit > 0 )) || { say "$name: skipped, no time left"; printf '%s\tskipped\t0\n' "$name" >> "$OUT/steps.tsv"; return 124; }
  say "$name (at most ${limit}s): $*"
  timeout "$limit" bash -c '"$@"' "$name" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$OUT/steps.tsv"
  if (( rc != 0 )); then say "$name: exit $rc (last lines of $name.log follow)"; tail -n 15 "$OUT/$name.log"; fi
  return "$rc"
}

report() {
  {
    echo "# upmoe GPU check — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- device: \`$DEVICE\`; GPU: $( [[ -s "$OUT/gpu.txt" ]] && cat "$OUT/gpu.txt" || echo 'none found')"
    echo "- PyTorch / libtorch: $(cat "$OUT/torch.txt" 2>/dev/null || echo 'not probed')"
    echo "- LibTorchSharp: $(cat "$OUT/libtorchsharp.txt" 2>/dev/null || echo 'not built')"
    echo "- wall time: $((SECONDS - started)) s; cores: $JOBS"
    [[ -f "$OUT/failure.txt" ]] && echo "- **stopped early:** $(cat "$OUT/failure.txt")"
    echo
    echo "## Golden parity (tiny golden checkpoint; golden tolerance = the specs', GPU tolerance 1e-3)"
    echo
    echo '```'
    cat "$OUT/golden-check.log" 2>/dev/null || echo "not run"
    echo '```'
    echo
    echo "## \`upmoe bench engine $BENCH_ARGS --device $DEVICE\`"
    echo
    grep -E '^(engine benchmark|\||merged-weight|embedded/monolithic)' "$OUT/bench-engine.log" 2>/dev/null || echo "not run"
    echo
    echo "## Steps (exit status, seconds)"
    echo
    echo '```'
    column -t "$OUT/steps.tsv" 2>/dev/null || cat "$OUT/steps.tsv"
    echo '```'
  } > "$OUT/gpu-report.md"
  say "report: $OUT/gpu-report.md"
}

# ---- 1. probe: print every tool, fail clearly on what is missing -------------------------------------------------
# The Python that has torch: python3, else python (UPMOE_PYTHON overrides).
PY="${UPMOE_PYTHON:-$(command -v python3 || command -v python || echo python3)}"
say "probing (output in $OUT/probe.log)"
{
  echo "== nvidia-smi"; nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  echo "== $PY / torch"
  "$PY" - <<'PY' 2>&1 || echo "$PY with torch: not available"
import os, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cuda available", torch.cuda.is_available(),
      "devices", torch.cuda.device_count())
if torch.cuda.is_available(): print("device 0:", torch.cuda.get_device_name(0))
print("cxx11 abi", torch.compiled_with_cxx11_abi())
print("cmake prefix", torch.utils.cmake_prefix_path)
print("torch dir", os.path.dirname(torch.__file__))
PY
  echo "== cmake"; cmake --version 2>&1 | head -1 || true
  echo "== g++"; g++ --version 2>&1 | head -1 || echo "g++: not available"
  echo "== ninja"; ninja --version 2>&1 || echo "ninja: not available (not needed: the build uses g++ directly)"
  echo "== xz"; xz --version 2>&1 | head -1 || echo "xz: not available (python's lzma is used)"
} > "$OUT/probe.log" 2>&1
cat "$OUT/probe.log"
missing=()
[[ -f "$G/upmoe-linux-x64.tar.xz" && -d "$G/golden" ]] || missing+=("artifacts/gpu from scripts/gpu-prepare.sh")
if [[ -n "${UPMOE_TORCH_LIB:-}" ]]; then
  TORCH_LIB="$UPMOE_TORCH_LIB"; TORCH_INC="${UPMOE_TORCH_INCLUDE:-}"; ABI=1
  echo "libtorch from UPMOE_TORCH_LIB=$TORCH_LIB" > "$OUT/torch.txt"
elif TORCH_DIR="$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)"; then
  TORCH_LIB="$TORCH_DIR/lib"; TORCH_INC="$TORCH_DIR/include"
  ABI="$("$PY" -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')"
  "$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")' > "$OUT/torch.txt" 2>&1
  [[ -f "$TORCH_INC/torch/csrc/api/include/torch/torch.h" ]] || missing+=("libtorch C++ headers in $TORCH_INC")
else
  missing+=("$PY with torch (or UPMOE_TORCH_LIB)")
fi
if [[ -z "${UPMOE_LIBTORCHSHARP:-}" ]]; then
  command -v g++ >/dev/null || missing+=("g++")
  [[ -d "$G/torchsharp-native/src/Native" ]] || missing+=("$G/torchsharp-native (scripts/gpu-prepare.sh)")
fi
if [[ "$DEVICE" == cuda* ]]; then
  command -v nvidia-smi >/dev/null || missing+=("nvidia-smi")
  "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null || missing+=("a CUDA device visible to PyTorch")
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 > "$OUT/gpu.txt"
fi
(( ${#missing[@]} == 0 )) || die "missing: $(IFS=';'; echo "${missing[*]}")" 2
case "$(cat "$OUT/torch.txt")" in
  *"torch 2.10"*|*UPMOE_TORCH_LIB*) ;;
  *) say "warning: TorchSharp $(<"$G/torchsharp-native/COMMIT") targets libtorch 2.10; this is $(cat "$OUT/torch.txt")" ;;
esac

# ---- 2. LibTorchSharp from source against this libtorch -----------------------------------------------------------
LIB="$WORK/lib"
mkdir -p "$LIB"
if [[ -n "${UPMOE_LIBTORCHSHARP:-}" ]]; then
  cp "$UPMOE_LIBTORCHSHARP" "$LIB/libLibTorchSharp.so"
  echo "prebuilt $UPMOE_LIBTORCHSHARP (not built here)" > "$OUT/libtorchsharp.txt"
else
  # Objects and the library are kept in artifacts/gpu-build (ignored, outside the carried artifacts/gpu): a second
  # run on the same machine reuses a finished build, or finishes one that ran out of time.
  BUILD="$PWD/artifacts/gpu-build"
  stamp="$(cat "$OUT/torch.txt") / TorchSharp $(<"$G/torchsharp-native/COMMIT") / abi $ABI"
  [[ "$(cat "$BUILD/stamp" 2>/dev/null)" == "$stamp" ]] || { rm -rf "$BUILD"; mkdir -p "$BUILD/obj"; echo "$stamp" > "$BUILD/stamp"; }
  build_native() {
    local src="$BUILD/src/Native"
    rm -rf "$BUILD/src"
    cp -r "$G/torchsharp-native/src" "$BUILD/"
    # TorchSharp's own flags (src/Native/CMakeLists.txt) minus -Werror: another compiler's warnings must not fail it.
    export CXXFLAGS="-O2 -std=c++17 -fPIC -fvisibility=hidden -fstack-protector-strong -D_GLIBCXX_USE_CXX11_ABI=$ABI -DNDEBUG
      -D__LINUX__ -D_NO_ASYNCRTIMP -D_NO_PPLXIMP -I$src -I$src/LibTorchSharp -isystem $TORCH_INC
      -isystem $TORCH_INC/torch/csrc/api/include -w"
    export OBJ="$BUILD/obj"
    [[ -f "$OBJ/crc32c.o" ]] || gcc -O2 -fPIC -fvisibility=hidden -w -c "$src/LibTorchSharp/crc32c.c" -o "$OBJ/crc32c.o" || return 1
    # Largest sources first, so the slowest translation units start at once; an object is written under a temporary
    # name and renamed when complete, so a build cut short resumes with what it finished.
    ls -S "$src"/LibTorchSharp/*.cpp | xargs -P "$JOBS" -I{} sh -c 'o="$OBJ/$(basename {} .cpp).o"; [ -f "$o" ] && exit 0;
      echo "  $(basename {})"; g++ $CXXFLAGS -c {} -o "$o.tmp" && mv "$o.tmp" "$o"' || return 1
    local cuda=()
    [[ -f "$TORCH_LIB/libtorch_cuda.so" ]] && cuda=(-ltorch_cuda -lc10_cuda)
    # --no-as-needed keeps libtorch_cuda a dependency: loading it registers the CUDA kernels.
    g++ -shared -o "$BUILD/libLibTorchSharp.so.tmp" "$OBJ"/*.o -L"$TORCH_LIB" -Wl,-rpath,"$TORCH_LIB" -Wl,--no-as-needed \
      -ltorch -ltorch_cpu -lc10 "${cuda[@]}" -Wl,-Bsymbolic -Wl,-Bsymbolic-functions -Wl,--build-id=sha1 || return 1
    mv "$BUILD/libLibTorchSharp.so.tmp" "$BUILD/libLibTorchSharp.so"
  }
  export -f build_native
  export G BUILD JOBS ABI TORCH_LIB TORCH_INC
  if [[ -f "$BUILD/libLibTorchSharp.so" ]]; then
    say "build-libtorchsharp: reusing $BUILD/libLibTorchSharp.so ($stamp)"
    printf 'build-libtorchsharp\treused\t0\n' >> "$OUT/steps.tsv"
  else
    step build-libtorchsharp 300 build_native \
      || die "LibTorchSharp did not build against $(cat "$OUT/torch.txt") (see build-libtorchsharp.log; a rerun resumes it)"
  fi
  cp "$BUILD/libLibTorchSharp.so" "$LIB/libLibTorchSharp.so"
  command -v nm >/dev/null || say "warning: no nm: the export check below counts nothing"
  nm -D --defined-only "$LIB/libLibTorchSharp.so" | awk '$2 == "T" { print $3 }' | sort -u > "$WORK/built.exports"
  absent="$(comm -13 "$WORK/built.exports" "$G/LibTorchSharp.exports" | grep -v '^crc32c_' || true)"
  echo "built from TorchSharp $(<"$G/torchsharp-native/COMMIT") in $(awk -F'\t' '$1=="build-libtorchsharp"{print $3}' "$OUT/steps.tsv") s;" \
    "$(wc -l < "$WORK/built.exports") exports, $( [[ -z "$absent" ]] && echo "none" || wc -l <<< "$absent") of the NuGet package's missing" > "$OUT/libtorchsharp.txt"
  [[ -z "$absent" ]] || { echo "$absent" > "$OUT/missing-exports.txt"; say "warning: $(wc -l <<< "$absent") exports of the package missing (missing-exports.txt)"; }
fi

# ---- 3. the published upmoe with this libtorch --------------------------------------------------------------------
APP="$WORK/upmoe"
mkdir -p "$APP"
if command -v xz >/dev/null; then tar -C "$APP" -xJf "$G/upmoe-linux-x64.tar.xz"
else "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$G/upmoe-linux-x64.tar.xz" "$APP"; fi
cp "$LIB/libLibTorchSharp.so" "$APP/"
# TorchSharp loads torch_cpu / torch_cuda and LibTorchSharp by name: the app directory, then LD_LIBRARY_PATH.
export LD_LIBRARY_PATH="$APP:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
upmoe() { "$APP/upmoe" "$@"; }
golden_args() { echo --checkpoint "$G/golden/model.pth" --model-config "$G/golden/config.json" --vocab "$G/golden/bpe_simple_vocab_16e6.txt.gz" --threads "$JOBS" -q; }

# One run = one configuration: image and video features and a caption of the golden inputs.
golden_run() {
  local run=$1 conf="$WORK/$1.conf"; shift
  printf '%s\n' "$@" > "$conf"
  local common=($(golden_args) --config "$conf" --cache-dir "$WORK/cache-$run")
  upmoe embed --task image-classification --tensor "$G/golden/inputs.safetensors:image.in1k_224" --out "$RESULTS/$run.image_cls.safetensors" "${common[@]}" || return 1
  upmoe embed --task video-retrieval --tensor "$G/golden/inputs.safetensors:video.clip_224" --out "$RESULTS/$run.video_retrieval.safetensors" "${common[@]}" || return 1
  upmoe caption --json --verbose --tensor "$G/golden/inputs.safetensors:image.clip_224" "${common[@]}" > "$RESULTS/$run.caption.json" || return 1
}
q() { "$PY" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
export -f upmoe golden_args golden_run
export G WORK APP RESULTS JOBS PY
step golden-device 180 golden_run device "upmoe.engine.device = $(q "$DEVICE")" \
  || say "upmoe on $DEVICE failed (golden-device.log); the benchmark still runs"

# ---- 4. the engine benchmark on the device ------------------------------------------------------------------------
# shellcheck disable=SC2086
step bench-engine 200 "$APP/upmoe" bench engine $BENCH_ARGS --device "$DEVICE" --threads "$JOBS"
bench_rc=$?
grep -E '^(\||embedded/monolithic)' "$OUT/bench-engine.log" || true

# ---- 5. optional, while time is left: groups split over the device and the CPU (per-expert placement, every route
# over two groups, so each hop moves tensors between devices inside one process), and the CPU on this machine.
left() { echo $((BUDGET - (SECONDS - started))); }
if (( $(left) > 90 )); then
  step golden-device-and-cpu 90 golden_run device-and-cpu "upmoe.engine.device = $(q "$DEVICE")" \
    "upmoe.placement.strategy = per-expert" "upmoe.placement.devices = [$(q "$DEVICE"), \"cpu\"]" || true
fi
if [[ "$DEVICE" != cpu ]] && (( $(left) > 90 )); then step golden-cpu 90 golden_run cpu 'upmoe.engine.device = "cpu"' || true; fi
step golden-check 30 "$PY" scripts/gpu/golden.py check "$G/golden" "$RESULTS" "$OUT/golden.json"
golden_rc=$?
cat "$OUT/golden-check.log"

report
(( golden_rc == 0 && bench_rc == 0 )) && { say "PASSED"; exit 0; }
say "FAILED (golden $golden_rc, bench $bench_rc)"
exit 1
