#!/usr/bin/env bash
# webtune against PyTorch on a causal LM at SmolLM2-135M's shape, back to back on one
# machine: training (batch 8 x 256, AdamW) and greedy generation with and without the
# key/value cache. Prints every JSON line, then the ratios (webtune / PyTorch; above 1 is
# webtune faster).
#
#   bench/lm_compare.sh [path/to/webtune] [cpu|gpu] [python]
#
# The binary defaults to target/debug/webtune (what `cargo build --bin webtune` makes; a
# release build is `cargo build --release --bin webtune`). `gpu` runs webtune on its wgpu
# device and PyTorch on CUDA. python must have torch and transformers.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/webtune}"
device="${2:-cpu}"
python="${3:-python3}"
torch_device=cpu
[ "$device" = gpu ] && torch_device=cuda
out="$(mktemp -d)"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores; $("$bin" --version); $("$python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')"
"$bin" bench train-lm --device "$device" | tee "$out/webtune.jsonl"
"$bin" bench generate --shape smollm2135m --device "$device" | tee -a "$out/webtune.jsonl"
"$python" bench/pytorch_train_lm.py --device "$torch_device" | tee "$out/pytorch.jsonl"
"$python" - "$out" <<'PY'
import json, sys
def read(name):
    return [json.loads(l) for l in open(f"{sys.argv[1]}/{name}") if l.startswith("{")]
w, p = read("webtune.jsonl"), read("pytorch.jsonl")
def pick(rows, workload, **kw):
    return next(r for r in rows if r["workload"] == workload and all(r.get(k) == v for k, v in kw.items()))
tw, tp = pick(w, "train-lm"), pick(p, "train-lm")
print(f"train-lm: webtune {tw['tokens_per_s']:.1f} tokens/s (step {tw['steady_step_s']:.2f} s, first {tw['first_step_s']:.2f} s, peak RSS {tw['peak_rss_bytes']/2**30:.2f} GiB)"
      f" vs PyTorch {tp['tokens_per_s']:.1f} tokens/s (step {tp['steady_step_s']:.2f} s, peak RSS {tp['peak_rss_bytes']/2**30:.2f} GiB): ratio {tw['tokens_per_s']/tp['tokens_per_s']:.3f}")
for cache in (True, False):
    gw, gp = pick(w, "generate", use_cache=cache), pick(p, "generate", use_cache=cache)
    print(f"generate, cache {'on' if cache else 'off'}: webtune {gw['tokens_per_s']:.2f} tokens/s vs PyTorch {gp['tokens_per_s']:.2f}: ratio {gw['tokens_per_s']/gp['tokens_per_s']:.3f}")
PY
