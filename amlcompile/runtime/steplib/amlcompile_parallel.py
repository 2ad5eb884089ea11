"""The process of one ParallelRunStep mini-batch task: imports the entry script, calls its
`init()` once and `run(mini_batch)`, retried up to run_max_try times, each call limited to
run_invocation_timeout seconds. Standard library only (pandas only if run() returns a
DataFrame, which then exists already).

    python amlcompile_parallel.py <job.json>

job.json: {"entry_script", "argv", "timeout", "max_try", "output_dir", "batches": [{"index",
"mini_batch", "rows_file", "result_file", "own_dir"}]}: after each mini-batch what is in
output_dir moves to its own_dir. Each result file gets {"items", "returned", "failed_items",
"error", "tries", "seconds"}; a line `[mini-batch N] done: ...` is printed after each.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import traceback


class RunTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise RunTimeout()


def _rows(result) -> list[str]:
    """What run() returned, one line per item (a DataFrame's rows space-separated, as Azure
    ML's append_row writes them)."""
    if result is None:
        return []
    if hasattr(result, "to_csv") and hasattr(result, "columns"):
        text = result.to_csv(sep=" ", header=False, index=False)
        return text.splitlines()
    if isinstance(result, (str, bytes)):
        return [result.decode() if isinstance(result, bytes) else result]
    return [str(item) for item in result]


def main(job_file: str) -> int:
    """One process for a group of mini-batches, as one Azure ML worker process: init() once,
    then run() for each mini-batch. A result file per mini-batch."""
    with open(job_file, encoding="utf-8") as fh:
        job = json.load(fh)
    script = job["entry_script"]
    sys.argv = [script, *job["argv"]]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(script))[0], script
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        if not callable(getattr(module, "run", None)):
            raise AttributeError(f"entry script {script} defines no run(mini_batch)")
        if callable(getattr(module, "init", None)):
            module.init()
    except Exception:
        error = "init: " + traceback.format_exc(limit=8)
        for batch in job["batches"]:
            n = len(batch["mini_batch"])
            out = {"items": n, "returned": 0, "failed_items": n, "error": error, "tries": 0}
            _write(batch["result_file"], out)
            print(f"[mini-batch {batch['index']}] failed: init() raised", flush=True)
        print(error, flush=True)
        return 0
    signal.signal(signal.SIGALRM, _alarm)
    for batch in job["batches"]:
        out = _one(module, batch, int(job["timeout"]), int(job["max_try"]))
        if job.get("output_dir") and batch.get("own_dir"):
            _move_all(job["output_dir"], batch["own_dir"])
        _write(batch["result_file"], out)
        state = "failed" if out["error"] or out["failed_items"] else "done"
        print(
            f"[mini-batch {batch['index']}] {state}: {out['items']}"
            f" {'file' if out['items'] == 1 else 'files'},"
            f" {out['failed_items']} failed, {out.get('seconds', 0):.2f} s",
            flush=True,
        )
    if hasattr(module, "shutdown") and callable(module.shutdown):
        module.shutdown()
    return 0


def _mini_batch(batch: dict):
    """What run() is given: the file paths, or (tabular inputs) a DataFrame of the files'
    rows, read as the dataset says (amlcompile_run.TabularDataset)."""
    if not batch.get("tables"):
        return list(batch["mini_batch"])
    from amlcompile_run import TabularDataset

    frames = []
    for table in batch["tables"]:
        spec = {**table["spec"], "files": table["files"], "transforms": []}
        frames.append(TabularDataset("mini_batch", table["path"], spec).to_pandas_dataframe())
    if len(frames) == 1:
        return frames[0]
    import pandas

    return pandas.concat(frames, ignore_index=True)


def _one(module, batch: dict, timeout: int, max_try: int) -> dict:
    """run() on one mini-batch, tried up to max_try times, each within timeout seconds. For
    tabular inputs the items counted (error_threshold) are rows, as on Azure ML."""
    out = {"items": len(batch["mini_batch"]), "returned": 0, "failed_items": 0, "error": None}
    try:
        data = _mini_batch(batch)
    except Exception:
        n = out["items"]
        error = "reading the mini-batch: " + traceback.format_exc(limit=4)
        return {"items": n, "returned": 0, "failed_items": n, "error": error, "tries": 0}
    out["items"] = len(data)
    errors = []
    for attempt in range(1, max_try + 1):
        out["tries"] = attempt
        started = time.monotonic()
        signal.alarm(timeout)
        try:
            result = module.run(data if batch.get("tables") else list(data))
            signal.alarm(0)
            rows = _rows(result)
        except RunTimeout:
            errors.append(f"try {attempt}: run() took longer than {timeout} s")
            continue
        except Exception:
            signal.alarm(0)
            errors.append(f"try {attempt}: " + traceback.format_exc(limit=8))
            continue
        finally:
            signal.alarm(0)
        with open(batch["rows_file"], "w", encoding="utf-8") as fh:
            fh.writelines(f"{row}\n" for row in rows)
        out["returned"] = len(rows)
        out["failed_items"] = max(0, out["items"] - len(rows))
        out["seconds"] = round(time.monotonic() - started, 3)
        return out
    out.update(failed_items=out["items"], error="\n".join(errors))
    return out


def _move_all(src: str, dst: str) -> None:
    """What the entry script wrote to EntryScript().output_dir during a mini-batch becomes that
    mini-batch's own files (each batch is reused on its own)."""
    import shutil

    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        shutil.move(os.path.join(src, name), os.path.join(dst, name))


def _write(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(value, fh)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
