import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--scores")
parser.add_argument("--summary")
args = parser.parse_args()

rows = (Path(args.scores) / "scores.txt").read_text().split("\n")
scores = {name: int(value) for name, value in (r.split() for r in rows if r.strip())}
positive = sorted(n for n, s in scores.items() if s > 0)
Path(args.summary).mkdir(parents=True, exist_ok=True)
(Path(args.summary) / "summary.txt").write_text(
    f"{len(scores)} reviews, {len(positive)} positive\n" + "\n".join(positive) + "\n"
)
print(f"{len(scores)} reviews scored, {len(positive)} positive")
