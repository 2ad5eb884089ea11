"""One trial: fit y = 3x + 1 (with noise) by gradient descent, logging the validation loss
every epoch with Run.log, as an SDK v1 training script does. The model goes to ./outputs."""

import argparse
import json
import random
import time
from pathlib import Path

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--learning-rate", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

rng = random.Random(args.seed)
points = [(x / 50, 3 * x / 50 + 1 + rng.gauss(0, 0.1)) for x in range(100)]
train, valid = points[::2], points[1::2]
run = Run.get_context()

w = b = 0.0
for _ in range(args.epochs):
    dw = sum(2 * (w * x + b - y) * x for x, y in train) / len(train)
    db = sum(2 * (w * x + b - y) for x, y in train) / len(train)
    w, b = w - args.learning_rate * dw, b - args.learning_rate * db
    val_loss = sum((w * x + b - y) ** 2 for x, y in valid) / len(valid)
    run.log("val_loss", min(val_loss, 1e12))
    time.sleep(0.2)  # a real epoch takes a while: the policy watches the trial as it runs

Path("outputs").mkdir(exist_ok=True)
Path("outputs/model.json").write_text(json.dumps({"w": w, "b": b}) + "\n")
print(f"lr {args.learning_rate}, {args.epochs} epochs: w={w:.3f} b={b:.3f} val_loss={val_loss:.4f}")
