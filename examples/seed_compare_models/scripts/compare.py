"""Compare the keyword model (top --param1 words per class) with naive Bayes on test data."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--comp_data1", required=True, help="folder holding keywords.json")
parser.add_argument("--comp_data2", required=True, help="folder holding model.json")
parser.add_argument("--test_data", required=True, help="prepared data folder")
parser.add_argument("--output_data", required=True, help="folder for report.json")
parser.add_argument("--param1", type=int, required=True, help="keywords per class")
args = parser.parse_args()
print(f"param1 (pipeline_arg) = {args.param1}")

with open(os.path.join(args.comp_data1, "keywords.json")) as fh:
    keywords = {label: set(words[: args.param1]) for label, words in json.load(fh).items()}
with open(os.path.join(args.comp_data2, "model.json")) as fh:
    model = json.load(fh)
with open(os.path.join(args.test_data, "test.json")) as fh:
    test = json.load(fh)


def bayes(tokens):
    def score(label):
        ll = model["loglik"][label]
        return model["priors"][label] + sum(ll[t] for t in tokens if t in ll)

    return max(sorted(model["priors"]), key=score)


def keyword(tokens):
    return max(sorted(keywords), key=lambda label: len(keywords[label] & set(tokens)))


report = {"param1": args.param1, "test_documents": len(test)}
for name, predict in (("naive_bayes", bayes), ("keywords", keyword)):
    correct = sum(predict(row["tokens"]) == row["label"] for row in test)
    report[name] = correct / len(test)
os.makedirs(args.output_data, exist_ok=True)
with open(os.path.join(args.output_data, "report.json"), "w") as fh:
    json.dump(report, fh, indent=2, sort_keys=True)
print("accuracy:", {k: report[k] for k in ("naive_bayes", "keywords")})
