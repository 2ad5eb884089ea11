"""Count words of at least --min_length letters over all documents (run by a CommandStep)."""

import argparse
import collections
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--tokens", required=True, help="folder holding tokens.json")
parser.add_argument("--min_length", type=int, required=True, help="shortest word counted")
parser.add_argument("--output", required=True, help="folder for counts.json")
args = parser.parse_args()

with open(os.path.join(args.tokens, "tokens.json"), encoding="utf-8") as fh:
    tokens = json.load(fh)
counts = collections.Counter(w for words in tokens.values() for w in words
                             if len(w) >= args.min_length)
documents = {w: sum(w in set(words) for words in tokens.values()) for w in counts}

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "counts.json"), "w", encoding="utf-8") as fh:
    json.dump({"counts": counts, "documents": documents}, fh, sort_keys=True)
print(f"min_length (pipeline parameter) = {args.min_length}: {len(counts)} distinct words")
