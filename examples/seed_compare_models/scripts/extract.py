"""Extract a keyword model from the trained classifier: the most telling words per class."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="folder holding model.json")
parser.add_argument("--output", required=True, help="folder for keywords.json")
args = parser.parse_args()

with open(os.path.join(args.input, "model.json")) as fh:
    model = json.load(fh)

keywords = {}
for label, loglik in model["loglik"].items():
    others = [m for lbl, m in model["loglik"].items() if lbl != label]
    lift = {w: p - max(o[w] for o in others) for w, p in loglik.items()}
    keywords[label] = sorted(lift, key=lambda w: (-lift[w], w))

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "keywords.json"), "w") as fh:
    json.dump(keywords, fh, sort_keys=True)
print("top keywords:", {k: v[:3] for k, v in keywords.items()})
