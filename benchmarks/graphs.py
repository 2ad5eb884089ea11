"""The benchmark pipelines' shapes, as parent lists (stdlib only: imported by every venv).

`parents(shape, n)[i]` lists the steps that step i runs after; steps are in topological
order. The random shape uses a fixed seed, so every tool compiles the very same graph.
"""

from __future__ import annotations

import random

SHAPES = ("chain", "fan", "random")
SEED = 20261124


def parents(shape: str, n: int) -> list[list[int]]:
    if n <= 1:  # one step is every shape
        return [[] for _ in range(n)]
    if shape in ("chain", "aml_chain"):  # aml_chain: the chain with data (compile_bench.py)
        return [[]] + [[i - 1] for i in range(1, n)]
    if shape == "fan":  # one source, n - 2 parallel steps, one sink after all of them
        middle = list(range(1, n - 1))
        return [[]] + [[0] for _ in middle] + [middle]
    if shape == "random":  # each step after 1 to 3 earlier steps
        rng = random.Random(SEED + n)
        return [[]] + [sorted(rng.sample(range(i), rng.randint(1, min(3, i)))) for i in range(1, n)]
    raise ValueError(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")


def edges(shape: str, n: int) -> int:
    return sum(len(p) for p in parents(shape, n))
