"""Build time of a step whose source folder holds many files (issue 19: one fsync per file).

    python benchmarks/snapshot_write.py --files 10000 --repeat 3

Makes a throwaway project (one pipeline, one step, `--files` small files in folders of 100)
and times `amlcompile build` in a fresh process: first into an empty dags_out/ with no
caches (everything hashed and written), then again with nothing changed (nothing written).
Prints wall seconds, median (min..max) of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = """\
from amlcompile import Pipeline, PythonScriptStep, Workspace

ws = Workspace.from_config()
many = Pipeline(ws, steps=[PythonScriptStep("main.py", source_directory="src")])
"""


def make_project(root: Path, files: int, size: int) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    (root / "pipe.py").write_text(PIPELINE)
    src = root / "src"
    src.mkdir()
    (src / "main.py").write_text("print('hello')\n")
    body = b"x" * size
    for i in range(files - 1):
        folder = src / f"d{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{i:05d}.py").write_bytes(body + str(i).encode())


def build(root: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "amlcompile.cli", "build", "pipe.py"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    return took, proc.stdout + proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10000, help="files in the source folder")
    ap.add_argument("--size", type=int, default=1000, help="bytes per file")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    ap.add_argument(
        "--dir", default=None, help="where the throwaway projects go (default: the temp folder)"
    )
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="amlcompile-snapbench-", dir=args.dir) as tmp:
            root = Path(tmp)
            make_project(root, args.files, args.size)
            took, out = build(root)
            cold.append(took)
            warm.append(build(root)[0])
            shutil.rmtree(root / "dags_out")
    for name, values in (("first build", cold), ("rebuild, nothing changed", warm)):
        print(
            f"{name:<26} {statistics.median(values):6.2f} s"
            f" ({min(values):.2f}..{max(values):.2f}), {args.files} files"
        )
    print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
