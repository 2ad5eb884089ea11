"""Split every document of the corpus into lower-case words: one JSON list per document."""

import argparse
import json
import os
import re

parser = argparse.ArgumentParser()
parser.add_argument("--corpus", required=True, help="folder of .txt documents")
parser.add_argument("--output", required=True, help="folder for tokens.json")
args = parser.parse_args()

tokens = {}
for name in sorted(os.listdir(args.corpus)):
    if name.endswith(".txt"):
        with open(os.path.join(args.corpus, name), encoding="utf-8") as fh:
            tokens[name] = re.findall(r"[a-z]+", fh.read().lower())

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "tokens.json"), "w", encoding="utf-8") as fh:
    json.dump(tokens, fh, sort_keys=True)
print(f"tokenized {len(tokens)} documents, {sum(map(len, tokens.values()))} words")
