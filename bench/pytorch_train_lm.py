#!/usr/bin/env python3
"""PyTorch reference for `webtune bench train-lm` and `webtune bench generate`: the same
workloads on the same shape, one JSON line each, in webtune's field names.

- train-lm: a causal LM at SmolLM2-135M's shape (LlamaForCausalLM, random weights, normal
  0.02 as transformers initialises), batch 8 x 256 tokens of random ids, next-token loss on
  every position, AdamW (lr 5e-5, weight decay 0.01), full fine-tuning; the first step
  apart from the steady state (median of --steps).
- generate: greedy, one prompt of --prompt-tokens random ids, exactly --new-tokens new
  tokens, with and without the key/value cache.

The config below is `LmShape::Smollm2135m` of src/cli/bench.rs; keep the two equal.
bench/lm_compare.sh runs both sides back to back and prints the ratios.

Needs: pip install torch transformers.

  python bench/pytorch_train_lm.py [--device cpu|cuda] [--steps 3] [--threads N]
"""

import argparse
import json
import resource
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SMOLLM2_135M = dict(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
    tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
)

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--seq-len", type=int, default=256)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--prompt-tokens", type=int, default=32)
parser.add_argument("--new-tokens", type=int, default=32)
parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
parser.add_argument("--skip-generate", action="store_true")
args = parser.parse_args()

if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
device = torch.device(args.device)
config = LlamaConfig(**SMOLLM2_135M)
config._attn_implementation = "eager"
model = LlamaForCausalLM(config).to(device)
parameters = sum(p.numel() for p in model.parameters())


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train():
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01, eps=1e-8)
    times = []
    started = time.perf_counter()
    for _ in range(args.steps + 1):
        ids = torch.randint(0, config.vocab_size, (args.batch_size, args.seq_len), device=device)
        sync()
        start = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        sync()
        times.append(time.perf_counter() - start)
    steady = statistics.median(times[1:])
    print(json.dumps({
        "workload": "train-lm", "implementation": f"pytorch {torch.__version__}", "device": args.device, "threads": torch.get_num_threads(),
        "model": "SmolLM2-135M shape, random weights", "parameters": parameters, "batch_size": args.batch_size, "seq_len": args.seq_len,
        "first_step_s": times[0], "steady_step_s": steady, "steady_steps": args.steps,
        "tokens_per_s": args.batch_size * args.seq_len / steady, "peak_rss_bytes": peak_rss(),
        "peak_cuda_bytes": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
        "wall_s": time.perf_counter() - started,
    }), flush=True)


@torch.no_grad()
def generate():
    model.eval()
    generator = torch.Generator().manual_seed(3)
    prompt = torch.randint(0, config.vocab_size, (1, args.prompt_tokens), generator=generator).to(device)
    for use_cache in (True, False):
        sync()
        start = time.perf_counter()
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=args.new_tokens,
                             min_new_tokens=args.new_tokens, use_cache=use_cache, pad_token_id=0)
        sync()
        seconds = time.perf_counter() - start
        new = out.shape[1] - args.prompt_tokens
        print(json.dumps({
            "workload": "generate", "implementation": f"pytorch {torch.__version__}", "device": args.device, "threads": torch.get_num_threads(),
            "model": "SmolLM2-135M shape, random weights", "use_cache": use_cache, "prompt_tokens": args.prompt_tokens,
            "new_tokens": new, "seconds": seconds, "tokens_per_s": new / seconds, "peak_rss_bytes": peak_rss(),
        }), flush=True)


train()
if not args.skip_generate:
    generate()
