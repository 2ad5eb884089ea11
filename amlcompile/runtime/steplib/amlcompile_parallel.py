"""The process of one ParallelRunStep mini-batch task: imports the entry script, calls its
`init()` once and `run(mini_batch)`, retried up to run_max_try times, each call limited to
run_invocation_timeout seconds. Standard library only (pandas only if run() returns a
DataFrame, which then exists already).

    python amlcompile_parallel.py <job.json>

job.json: {"entry_script", "argv", "mini_batch", "timeout", "max_try", "rows_file",
"result_file"}. The result file gets {"items", "returned", "failed_items", "error", "tries"}.
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
    with open(job_file, encoding="utf-8") as fh:
        job = json.load(fh)
    out = {"items": len(job["mini_batch"]), "returned": 0, "failed_items": 0, "error": None}
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
        out.update(failed_items=out["items"], error="init: " + traceback.format_exc(limit=8))
        _write(job["result_file"], out)
        return 0
    signal.signal(signal.SIGALRM, _alarm)
    errors = []
    for attempt in range(1, int(job["max_try"]) + 1):
        out["tries"] = attempt
        started = time.monotonic()
        signal.alarm(int(job["timeout"]))
        try:
            result = module.run(list(job["mini_batch"]))
            signal.alarm(0)
            rows = _rows(result)
        except RunTimeout:
            errors.append(f"try {attempt}: run() took longer than {job['timeout']} s")
            continue
        except Exception:
            signal.alarm(0)
            errors.append(f"try {attempt}: " + traceback.format_exc(limit=8))
            continue
        finally:
            signal.alarm(0)
        with open(job["rows_file"], "w", encoding="utf-8") as fh:
            fh.writelines(f"{row}\n" for row in rows)
        out["returned"] = len(rows)
        out["failed_items"] = max(0, out["items"] - len(rows))
        out["seconds"] = round(time.monotonic() - started, 3)
        if hasattr(module, "shutdown") and callable(module.shutdown):
            module.shutdown()
        _write(job["result_file"], out)
        return 0
    out.update(failed_items=out["items"], error="\n".join(errors))
    if hasattr(module, "shutdown") and callable(module.shutdown):
        module.shutdown()
    _write(job["result_file"], out)
    return 0


def _write(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(value, fh)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
