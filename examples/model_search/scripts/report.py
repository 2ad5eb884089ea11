import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--metrics")
args = parser.parse_args()


def only_file(folder: str) -> Path:
    path = Path(folder)
    return path if path.is_file() else next(p for p in sorted(path.rglob("*")) if p.is_file())


model = json.loads(only_file(args.model).read_text())
metrics = json.loads(only_file(args.metrics).read_text())
print(f"best model: w={model['w']:.3f} b={model['b']:.3f}; {len(metrics)} trials logged")
