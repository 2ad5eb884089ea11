"""Build time of a step whose source folder holds many files (issue 19: one fsync per file).

    python benchmarks/snapshot_write.py --files 10000 --repeat 3

Makes a throwaway project (one pipeline, one step, `--files` small files in folders of 100)
and times `amlcompile build` in a fresh process: first into an empty dags_out/ with no
caches (everything hashed and written), then again with nothing changed (nothing written).
Prints wall seconds, median (min..max) of --repeat runs.

    python benchmarks/snapshot_write.py --write-only --files 10000 --repeat 5

times only the writer (`render/writer.apply` of a 10,000-file snapshot into an empty folder,
in-process) and counts its fsync calls: the part issue 19 changed, without the interpreter
start, the import of the pipeline and the hashing. Run it with PYTHONPATH pointing at two
checkouts to compare them.
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


def write_only(files: int, size: int, repeat: int, where: str | None) -> None:
    from amlcompile.render import writer

    calls = {"fsync": 0, "syncfs": 0}
    real_fsync = os.fsync

    def counting_fsync(fd):
        calls["fsync"] += 1
        return real_fsync(fd)

    writer.os.fsync = counting_fsync  # the same os module: counts every fsync of the build
    if hasattr(writer, "_libc_syncfs"):
        real_syncfs = writer._libc_syncfs()

        def counting_syncfs(fd):
            calls["syncfs"] += 1
            return real_syncfs(fd)

        writer._libc_syncfs = lambda: counting_syncfs if real_syncfs else None
    body = b"x" * size
    content = {
        f"_amlcompile/snapshots/s/d{i // 100:03d}/f{i:05d}.py": (body + str(i).encode(), False)
        for i in range(files)
    }
    took = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="amlcompile-writebench-", dir=where) as tmp:
            os.sync()  # start each run with no dirty pages of ours
            start = time.perf_counter()
            writer.apply(Path(tmp) / "dags_out", content, {"_amlcompile/snapshots/s"})
            took.append(time.perf_counter() - start)
    per_run = {k: v // repeat for k, v in calls.items()}
    print(
        f"writer.apply of {files} files: {statistics.median(took):.2f} s"
        f" ({min(took):.2f}..{max(took):.2f}), per run: {per_run['fsync']} fsync,"
        f" {per_run['syncfs']} syncfs"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10000, help="files in the source folder")
    ap.add_argument("--size", type=int, default=1000, help="bytes per file")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    ap.add_argument(
        "--dir", default=None, help="where the throwaway projects go (default: the temp folder)"
    )
    ap.add_argument(
        "--write-only", action="store_true", help="time only writing the files (in-process)"
    )
    args = ap.parse_args()
    if args.write_only:
        write_only(args.files, args.size, args.repeat, args.dir)
        return
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
