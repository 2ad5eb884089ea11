"""Join the top words with the corpus statistics into one summary."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--top_words", required=True, help="folder holding top_words.json")
parser.add_argument("--stats", required=True, help="folder holding stats.json")
parser.add_argument("--output", required=True, help="folder for summary.json")
args = parser.parse_args()

with open(os.path.join(args.top_words, "top_words.json"), encoding="utf-8") as fh:
    top = json.load(fh)
with open(os.path.join(args.stats, "stats.json"), encoding="utf-8") as fh:
    stats = json.load(fh)
characters = sum(s["characters"] for s in stats.values())
summary = {"documents": len(stats), "characters": characters, "top_words": top}

os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "summary.json"), "w", encoding="utf-8") as fh:
    json.dump(summary, fh, indent=2)
for row in top:
    print(f"  {row['word']:<12} {row['count']:>3} times in {row['documents']} document(s)")
print(f"summary: {len(stats)} documents, {characters} characters, {len(top)} top words")
