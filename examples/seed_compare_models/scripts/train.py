"""Train a multinomial naive Bayes text classifier (pure Python) on the prepared data."""

import argparse
import collections
import json
import math
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="prepared data folder")
parser.add_argument("--output", required=True, help="folder for model.json")
args = parser.parse_args()

with open(os.path.join(args.input, "train.json")) as fh:
    rows = json.load(fh)

counts = collections.defaultdict(collections.Counter)
docs = collections.Counter()
for row in rows:
    docs[row["label"]] += 1
    counts[row["label"]].update(row["tokens"])
vocabulary = sorted({w for c in counts.values() for w in c})
model = {"priors": {}, "loglik": {}, "vocabulary": vocabulary}
for label in sorted(counts):
    total = sum(counts[label].values()) + len(vocabulary)
    model["priors"][label] = math.log(docs[label] / len(rows))
    model["loglik"][label] = {w: math.log((counts[label][w] + 1) / total) for w in vocabulary}

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "model.json"), "w") as fh:
    json.dump(model, fh, sort_keys=True)
print(f"trained on {len(rows)} documents, {len(vocabulary)} words, {len(counts)} classes")
