#!/usr/bin/env python3
"""PyTorch reference for `webtune bench train`: the same workload (all-MiniLM-L6-v2 as a
BertForSequenceClassification with 2 labels, batch 32 x 128 tokens of random ids, AdamW,
full fine-tuning), one JSON line per device, first step apart from the steady state.

Needs: pip install torch transformers; cargo xtask fetch-model.

  python bench/pytorch_train.py --model www/models/all-MiniLM-L6-v2 [--device cpu|cuda] [--steps 5] [--bf16]

--bf16 runs the forward pass and the loss under bf16 autocast (weights, gradients and AdamW
stay fp32), as `Trainer(bf16=True)` does.
"""

import argparse
import json
import resource
import statistics
import time

import torch
from transformers import AutoModelForSequenceClassification

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="www/models/all-MiniLM-L6-v2")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seq-len", type=int, default=128)
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass and the loss")
args = parser.parse_args()

torch.manual_seed(0)
device = torch.device(args.device)
model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2).to(device).train()
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01, eps=1e-8)
vocab = model.config.vocab_size


def step():
    ids = torch.randint(1000, vocab, (args.batch_size, args.seq_len), device=device)
    labels = torch.randint(0, 2, (args.batch_size,), device=device)
    start = time.perf_counter()
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()
    loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


first = step()
steady = statistics.median(step() for _ in range(args.steps))
peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({
    "workload": "train", "framework": f"pytorch {torch.__version__}", "device": args.device, "precision": "bf16 autocast" if args.bf16 else "fp32",
    "batch_size": args.batch_size, "seq_len": args.seq_len, "first_step_s": first, "steady_step_s": steady,
    "samples_per_s": args.batch_size / steady, "tokens_per_s": args.batch_size * args.seq_len / steady,
    "peak_memory_bytes": peak, "threads": torch.get_num_threads(),
}))
