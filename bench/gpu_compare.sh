#!/usr/bin/env bash
# webtune against PyTorch on the fixed training workload (all-MiniLM-L6-v2 as a classifier,
# batch 32 x 128 random tokens, AdamW, full fine-tuning), back to back on one machine, so
# the ratio is measured on the same hardware in the same run: `webtune bench train` on its
# wgpu device (Vulkan/Metal/DX12) or CPU, then `bench/pytorch_train.py` in fp32 and with
# bf16 autocast. Prints every JSON line, then the ratios (webtune / PyTorch samples per
# second; above 1 is webtune faster).
#
#   bench/gpu_compare.sh [path/to/webtune] [gpu|cpu] [python] [steps]
#
# Build the binary beforehand on any machine (`cargo build --release --bin webtune`, or the
# test build at $CARGO_TARGET_DIR/debug/webtune) so a lent GPU machine only runs; the model
# is www/models/all-MiniLM-L6-v2 (`cargo xtask fetch-model`). `gpu` runs PyTorch on CUDA;
# python must have torch and transformers.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/release/webtune}"
device="${2:-gpu}"
python="${3:-python3}"
steps="${4:-5}"
torch_device=cpu
[ "$device" = gpu ] && torch_device=cuda
out="$(mktemp -d)"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores; $("$bin" --version); $("$python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')"
[ "$device" = gpu ] && command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/# /'
"$bin" bench train --device "$device" --steps "$steps" | tee "$out/webtune.jsonl"
"$python" bench/pytorch_train.py --device "$torch_device" --steps "$steps" | tee "$out/pytorch.jsonl"
"$python" bench/pytorch_train.py --device "$torch_device" --steps "$steps" --bf16 | tee -a "$out/pytorch.jsonl"
"$python" - "$out" <<'PY'
import json, sys
def read(name):
    return [json.loads(l) for l in open(f"{sys.argv[1]}/{name}") if l.startswith("{")]
w = read("webtune.jsonl")[0]
for p in read("pytorch.jsonl"):
    print(f"train ({p['precision']}): webtune {w['samples_per_s']:.2f} samples/s (step {w['steady_step_s']:.3f} s, first {w['first_step_s']:.2f} s)"
          f" vs PyTorch {p['samples_per_s']:.2f} samples/s (step {p['steady_step_s']:.3f} s, first {p['first_step_s']:.2f} s): ratio {w['samples_per_s']/p['samples_per_s']:.3f}")
PY
