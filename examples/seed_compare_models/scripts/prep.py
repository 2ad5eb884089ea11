"""Data preparation: read the uploaded 20newsgroups sample, tokenise, split train/test."""

import argparse
import json
import os
import pickle
import re

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="the uploaded 20news.pkl")
parser.add_argument("--output", required=True, help="folder for train.json and test.json")
args = parser.parse_args()

with open(args.input, "rb") as fh:
    records = pickle.load(fh)

train, test = [], []
for i, (label, text) in enumerate(records):
    tokens = re.findall(r"[a-z0-9]+", text.lower())
    (test if i % 4 == 3 else train).append({"label": label, "tokens": tokens})

os.makedirs(args.output, exist_ok=True)
for name, rows in (("train", train), ("test", test)):
    with open(os.path.join(args.output, f"{name}.json"), "w") as fh:
        json.dump(rows, fh)
print(f"prepared {len(train)} training and {len(test)} test documents")
