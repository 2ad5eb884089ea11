"""The native surface: `@step` functions called inside a `@pipeline` function.

Each `@step` function becomes a generated step script (its source plus this module's
imports), `Input`/`Output` annotations make its data ports, and its other parameters are
scalars parsed from the command line. The `@pipeline` function's parameters are pipeline
parameters; data flows through ordinary calls. The raw data comes in through an SDK v1
`DataReference`, to show that the two forms mix. Run it with
`amlcompile run examples/decorator_form/pipeline.py --param epochs=50 --param run_label=short`.
"""

import csv
import json
import math
import os

from amlcompile import DataReference, Input, Output, Workspace, pipeline, step

ws = Workspace.from_config()
datastore = ws.get_default_datastore()
datastore.upload_files(["./data/measurements.csv"], target_path="decorator_form", overwrite=True)
measurements = DataReference(datastore=datastore, data_reference_name="measurements",
                             path_on_datastore="decorator_form/measurements.csv")


@step
def prepare(raw: Input, prepared: Output, test_every: int = 4, normalize: bool = True):
    """Read the CSV, optionally standardise x, and hold out every `test_every`-th row."""
    with open(raw, newline="", encoding="utf-8") as fh:
        rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
    xs = [x for x, _ in rows]
    mean = sum(xs) / len(xs) if normalize else 0.0
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs)) if normalize else 1.0
    scaled = [((x - mean) / std, y) for x, y in rows]
    split = {"train": [r for i, r in enumerate(scaled) if i % test_every != test_every - 1],
             "test": [r for i, r in enumerate(scaled) if i % test_every == test_every - 1],
             "scaling": {"mean": mean, "std": std}}
    os.makedirs(prepared, exist_ok=True)
    with open(os.path.join(prepared, "split.json"), "w", encoding="utf-8") as fh:
        json.dump(split, fh)
    print(f"normalize={normalize}: {len(split['train'])} train rows, {len(split['test'])} test")


@step
def train(prepared: Input, model: Output, epochs: int = 100, learning_rate: float = 0.1):
    """Fit y = w*x + b by full-batch gradient descent on the training rows."""
    with open(os.path.join(prepared, "split.json"), encoding="utf-8") as fh:
        rows = json.load(fh)["train"]
    w = b = 0.0
    for _ in range(epochs):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
        grad_b = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
        w, b = w - learning_rate * grad_w, b - learning_rate * grad_b
    loss = sum((w * x + b - y) ** 2 for x, y in rows) / len(rows)
    os.makedirs(model, exist_ok=True)
    with open(os.path.join(model, "model.json"), "w", encoding="utf-8") as fh:
        json.dump({"w": w, "b": b, "epochs": epochs, "learning_rate": learning_rate}, fh)
    print(f"epochs={epochs} learning_rate={learning_rate}: w={w:.3f} b={b:.3f}"
          f" train_mse={loss:.4f}")


@step
def evaluate(prepared: Input, model: Input, report: Output, run_label: str = "run"):
    """Score the model on the held-out rows and write report.json."""
    with open(os.path.join(prepared, "split.json"), encoding="utf-8") as fh:
        split = json.load(fh)
    with open(os.path.join(model, "model.json"), encoding="utf-8") as fh:
        params = json.load(fh)
    errors = [params["w"] * x + params["b"] - y for x, y in split["test"]]
    rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    # The slope in the original units of x, whatever the scaling.
    slope = params["w"] / split["scaling"]["std"]
    result = {"run_label": run_label, "test_rmse": rmse, "slope": slope, **params}
    os.makedirs(report, exist_ok=True)
    with open(os.path.join(report, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    print(f"run_label={run_label!r}: test_rmse={rmse:.4f} slope={slope:.3f} (true slope 3)")


@pipeline(description="Fit a line to uploaded measurements: prepare, train, evaluate.")
def decorator_form(epochs: int = 200, learning_rate: float = 0.1, run_label: str = "baseline",
                   normalize: bool = True):
    prepared = prepare(raw=measurements, normalize=normalize)
    model = train(prepared=prepared, epochs=epochs, learning_rate=learning_rate)
    evaluate(prepared=prepared, model=model, run_label=run_label)
