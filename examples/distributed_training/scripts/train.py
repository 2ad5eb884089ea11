"""Data-parallel training of y = w*x + b without torch: each rank takes its share of the data,
computes its gradient, and the ranks average gradients every epoch through rank 0 (the
all-reduce torch.distributed would do). Rank 0 writes the model."""

import argparse
import json
import os
import socket
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=150)
parser.add_argument("--model")
args = parser.parse_args()

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
master = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))

# The data: y = 3x + 1; rank r takes every world-th point.
xs = [i / 100 for i in range(200)][rank::world]
ys = [3 * x + 1 for x in xs]


def gradient(w: float, b: float) -> tuple[float, float]:
    n = len(xs)
    dw = sum(2 * (w * x + b - y) * x for x, y in zip(xs, ys, strict=True)) / n
    db = sum(2 * (w * x + b - y) for x, y in zip(xs, ys, strict=True)) / n
    return dw, db


def connect() -> socket.socket:
    for _ in range(200):  # rank 0 may not listen yet
        try:
            return socket.create_connection(master, timeout=30)
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"rank {rank}: no rank 0 at {master}")


if rank == 0:
    server = socket.create_server(("", master[1]))
    peers = [server.accept()[0].makefile("rw") for _ in range(world - 1)]
else:
    peer = connect().makefile("rw")

w = b = 0.0
for _ in range(args.epochs):
    dw, db = gradient(w, b)
    if rank == 0:  # all-reduce: gather, average, broadcast
        grads = [(dw, db)] + [tuple(json.loads(p.readline())) for p in peers]
        dw = sum(g[0] for g in grads) / world
        db = sum(g[1] for g in grads) / world
        for p in peers:
            p.write(json.dumps([dw, db]) + "\n")
            p.flush()
    else:
        peer.write(json.dumps([dw, db]) + "\n")
        peer.flush()
        dw, db = json.loads(peer.readline())
    w, b = w - 0.25 * dw, b - 0.25 * db

print(f"rank {rank}/{world}: w={w:.3f} b={b:.3f} after {args.epochs} epochs")
if rank == 0:
    Path(args.model).mkdir(parents=True, exist_ok=True)
    (Path(args.model) / "model.json").write_text(json.dumps({"w": w, "b": b}) + "\n")
