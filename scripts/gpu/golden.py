#!/usr/bin/env python3
"""Golden-fixture helpers for scripts/gpu-prepare.sh and scripts/gpu-check.sh. Standard library only (no numpy, no
torch), so the same code runs on the preparing machine and on the GPU machine.

  golden.py subset SRC.safetensors DST.safetensors NAME...   copy only the named tensors
  golden.py check GOLDEN_DIR RESULTS_DIR SUMMARY.json         compare upmoe's outputs with the golden outputs

safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
"""
import json
import math
import os
import struct
import sys
from array import array

FORMATS = {"F32": "f", "I64": "q"}


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return header, data


def tensor(path, name):
    header, data = read(path)
    if name not in header:
        raise SystemExit(f"{path}: no tensor '{name}' (it has {', '.join(sorted(header))})")
    entry = header[name]
    if entry["dtype"] not in FORMATS:
        raise SystemExit(f"{path}:{name}: dtype {entry['dtype']} not supported here")
    start, end = entry["data_offsets"]
    values = array(FORMATS[entry["dtype"]])
    values.frombytes(data[start:end])
    if sys.byteorder != "little":
        values.byteswap()
    return entry["shape"], list(values)


def subset(src, dst, names):
    header, data = read(src)
    missing = [n for n in names if n not in header]
    if missing:
        raise SystemExit(f"{src}: no tensor(s) {', '.join(missing)}")
    out_header, chunks, offset = {}, [], 0
    for name in names:
        entry = header[name]
        start, end = entry["data_offsets"]
        chunks.append(data[start:end])
        out_header[name] = {"dtype": entry["dtype"], "shape": entry["shape"], "data_offsets": [offset, offset + end - start]}
        offset += end - start
    blob = json.dumps(out_header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


def max_abs(a, b):
    if len(a) != len(b):
        return math.inf
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def check(golden_dir, results_dir, summary_path):
    """Every run found in RESULTS_DIR (<run>.image_cls.safetensors, <run>.video_retrieval.safetensors,
    <run>.caption.json) against the golden outputs. Tolerances: the golden specs' (features 1e-5, logits 2.5e-4),
    and a GPU tolerance (1e-3) that allows TF32 convolutions and other reduction orders."""
    outputs = os.path.join(golden_dir, "outputs.safetensors")
    features = {"image_cls": "feat.image_cls", "video_retrieval": "feat.video_retrieval"}
    eos = int(tensor(outputs, "caption.beam2.eos_id")[1][0])
    _, ids = tensor(outputs, "caption.beam2.ids")
    ids_shape, _ = tensor(outputs, "caption.beam2.ids")
    golden_ids = ids[: ids_shape[1]]
    golden_ids = golden_ids[: golden_ids.index(eos)] if eos in golden_ids else golden_ids
    golden_score = tensor(outputs, "caption.beam2.score")[1][0]
    runs = sorted({f.split(".")[0] for f in os.listdir(results_dir) if f.endswith((".safetensors", ".caption.json"))})
    rows = []
    for run in runs:
        for kind, golden_name in features.items():
            path = os.path.join(results_dir, f"{run}.{kind}.safetensors")
            if not os.path.exists(path):
                continue
            diff = max_abs(tensor(outputs, golden_name)[1], tensor(path, "feature")[1])
            rows.append({"run": run, "check": golden_name, "max_abs_diff": diff, "golden_tolerance": 1e-5, "gpu_tolerance": 1e-3})
        path = os.path.join(results_dir, f"{run}.caption.json")
        if os.path.exists(path):
            try:
                with open(path) as f:
                    caption = json.load(f)
            except ValueError:
                # upmoe failed before writing its JSON (its log says why): a failed check, not a crash of this one.
                rows.append({"run": run, "check": "caption.beam2 ids", "max_abs_diff": math.inf,
                             "golden_tolerance": 0.0, "gpu_tolerance": 0.0, "text": "(no caption: upmoe failed)"})
                continue
            same = [int(i) for i in caption["ids"]] == golden_ids
            diff = abs(float(caption["score"]) - golden_score)
            rows.append({"run": run, "check": "caption.beam2 ids", "max_abs_diff": 0.0 if same else math.inf,
                         "golden_tolerance": 0.0, "gpu_tolerance": 0.0, "text": caption.get("text", "")})
            rows.append({"run": run, "check": "caption.beam2.score", "max_abs_diff": diff, "golden_tolerance": 2.5e-4, "gpu_tolerance": 1e-3})
    for r in rows:
        r["golden_ok"] = r["max_abs_diff"] <= r["golden_tolerance"]
        r["gpu_ok"] = r["max_abs_diff"] <= r["gpu_tolerance"]
    with open(summary_path, "w") as f:
        json.dump(rows, f, indent=1, default=str)
    for r in rows:
        print(f"{r['run']:<24} {r['check']:<22} max|diff| {r['max_abs_diff']:.3e}  golden tol {r['golden_tolerance']:.1e} "
              f"{'ok' if r['golden_ok'] else 'FAIL'}  gpu tol {r['gpu_tolerance']:.1e} {'ok' if r['gpu_ok'] else 'FAIL'}")
    if not rows:
        raise SystemExit(f"no results in {results_dir}")
    return all(r["gpu_ok"] for r in rows)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "subset":
        subset(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(0 if check(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
    else:
        raise SystemExit(__doc__)
