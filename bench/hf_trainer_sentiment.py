#!/usr/bin/env python3
"""Reference run for webtune's real-data benchmark: fine-tune all-MiniLM-L6-v2 on the
sample dataset (UCI Sentiment Labelled Sentences, `cargo xtask fetch-dataset`) with the
Hugging Face Trainer under webtune's settings, and report test accuracy as JSON.

Needs: pip install torch transformers accelerate; cargo xtask fetch-model; cargo xtask fetch-dataset.

  python bench/hf_trainer_sentiment.py [--model www/models/all-MiniLM-L6-v2]
      [--data www/datasets/sentiment-sentences] [--seed 42] [--lr 5e-5] [--batch-size 32]

webtune's side of the comparison (same settings, no validation split, final weights):
  webtune train --model www/models/all-MiniLM-L6-v2 --train DATA/train.jsonl --valid-split 0 \
      --max-length 64 --seed 42 --device cpu --out /tmp/sentiment-webtune
  webtune evaluate --model /tmp/sentiment-webtune --data DATA/test.jsonl --device cpu
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="www/models/all-MiniLM-L6-v2")
parser.add_argument("--data", default="www/datasets/sentiment-sentences")
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--lr", type=float, default=5e-5)
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()


def read(name):
    with open(os.path.join(args.data, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


train_rows, test_rows = read("train.jsonl"), read("test.jsonl")
labels = sorted({r["label"] for r in train_rows})
label2id = {l: i for i, l in enumerate(labels)}
tokenizer = AutoTokenizer.from_pretrained(args.model)


class Rows(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.enc = [tokenizer(r["text"], truncation=True, max_length=64) for r in rows]
        self.labels = [label2id[r["label"]] for r in rows]

    def __len__(self):
        return len(self.enc)

    def __getitem__(self, i):
        return {**self.enc[i], "labels": self.labels[i]}


model = AutoModelForSequenceClassification.from_pretrained(
    args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
# webtune's defaults: lr 5e-5, batch 32, 3 epochs, warmup 0.1 then linear decay, weight
# decay 0.01 (not on biases/LayerNorm), AdamW eps 1e-8, clipping at 1.0, seed 42.
# transformers 5 takes warmup as steps: ceil(0.1 x total optimizer steps), as webtune computes it.
total_steps = 3 * math.ceil(len(train_rows) / args.batch_size)
training = TrainingArguments(
    output_dir="/tmp/hf-sentiment", learning_rate=args.lr, per_device_train_batch_size=args.batch_size, num_train_epochs=3,
    warmup_steps=math.ceil(0.1 * total_steps), lr_scheduler_type="linear", weight_decay=0.01, adam_epsilon=1e-8, max_grad_norm=1.0,
    seed=args.seed, save_strategy="no", report_to=[], logging_steps=25, use_cpu=not torch.cuda.is_available())
trainer = Trainer(model=model, args=training, train_dataset=Rows(train_rows),
                  data_collator=DataCollatorWithPadding(tokenizer))
start = time.perf_counter()
trainer.train()
seconds = time.perf_counter() - start
prediction = trainer.predict(Rows(test_rows))
accuracy = float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())
print(json.dumps({"framework": "transformers Trainer", "accuracy": accuracy, "test_examples": len(test_rows),
                  "train_examples": len(train_rows), "train_seconds": seconds, "seed": args.seed,
                  "torch": torch.__version__}))
