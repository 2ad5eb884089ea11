"""ParallelRunStep entry script: init() once per process, run() once per mini-batch."""

import argparse
from pathlib import Path

POSITIVE: set[str] = set()
NEGATIVE = {"awful", "boring", "poor", "dull", "broken", "terrible"}


def init():
    parser = argparse.ArgumentParser()
    parser.add_argument("--positive-words", default="")
    args, _ = parser.parse_known_args()
    POSITIVE.update(w for w in args.positive_words.split(",") if w)


def run(mini_batch):
    """mini_batch: the paths of this batch's files. One result row per file."""
    rows = []
    for path in mini_batch:
        words = Path(path).read_text().split()
        score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
        rows.append(f"{Path(path).name} {score}")
    return rows
