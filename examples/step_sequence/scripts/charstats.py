"""Per-document statistics of the raw corpus: characters, lines, sentences."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--corpus", required=True, help="folder of .txt documents")
parser.add_argument("--output", required=True, help="folder for stats.json")
args = parser.parse_args()

stats = {}
for name in sorted(os.listdir(args.corpus)):
    if name.endswith(".txt"):
        with open(os.path.join(args.corpus, name), encoding="utf-8") as fh:
            text = fh.read()
        stats[name] = {"characters": len(text), "lines": text.count("\n"),
                       "sentences": text.count(".")}

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "stats.json"), "w", encoding="utf-8") as fh:
    json.dump(stats, fh, indent=2, sort_keys=True)
print(f"stats for {len(stats)} documents, {sum(s['characters'] for s in stats.values())} chars")
