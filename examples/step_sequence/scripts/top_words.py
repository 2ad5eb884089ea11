"""Rank words by count (then by how many documents use them) and keep the --top_n first."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--counts", required=True, help="folder holding counts.json")
parser.add_argument("--top_n", type=int, required=True, help="how many words to keep")
parser.add_argument("--output", required=True, help="folder for top_words.json")
args = parser.parse_args()

with open(os.path.join(args.counts, "counts.json"), encoding="utf-8") as fh:
    data = json.load(fh)
counts, documents = data["counts"], data["documents"]
ranked = sorted(counts, key=lambda w: (-counts[w], -documents[w], w))[: args.top_n]
top = [{"word": w, "count": counts[w], "documents": documents[w]} for w in ranked]

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "top_words.json"), "w", encoding="utf-8") as fh:
    json.dump(top, fh, indent=2)
print(f"top_n (pipeline parameter) = {args.top_n}: " + ", ".join(w for w in ranked))
