"""Reads the copied raw CSV files and writes one feature file."""

import argparse
import pathlib

parser = argparse.ArgumentParser()
parser.add_argument("--raw")
parser.add_argument("--features")
args = parser.parse_args()

rows = []
for csv in sorted(pathlib.Path(args.raw).glob("*.csv")):
    rows += [line for line in csv.read_text().splitlines()[1:] if line]
out = pathlib.Path(args.features)
out.mkdir(parents=True, exist_ok=True)
(out / "features.csv").write_text("\n".join(rows) + "\n")
print(f"prep: {len(rows)} rows")
