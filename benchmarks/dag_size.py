"""Size of the generated DAG file per step, for issue 18's chain: every step on an AmlCompute
target, a PipelineParameter in its arguments and a PipelineData edge to the next step.

    python benchmarks/dag_size.py 1000 10000     # prints bytes per step for each size

Target: at most 1 KB per step on average (a hand-written DAG repeats nothing per task
either). Each size is built by `amlcompile build` in a project of its own under a temporary
folder; nothing is timed here (parse times: run_benchmarks.py parse).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIG = """\
[compute.gpu]
kind = "amlcompute"
vm_size = "STANDARD_NC6"
max_nodes = 4
"""


def pipeline_source(n: int) -> str:
    return f"""\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
compute = ws.compute_targets["gpu"]
lr = PipelineParameter("learning_rate", default_value=0.1)
prev = None
steps = []
for i in range({n}):
    out = PipelineData(f"d{{i}}", datastore=ds)
    args = ["--lr", lr, "--out", out] + (["--in", prev] if prev is not None else [])
    steps.append(PythonScriptStep("s.py", name=f"s{{i}}", source_directory="src",
                                  compute_target=compute, arguments=args,
                                  inputs=[prev] if prev is not None else [], outputs=[out]))
    prev = out
aml_chain_{n} = Pipeline(ws, steps=[steps[-1]])
"""


def build(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    (root / "amlcompile.toml").write_text(CONFIG)
    (root / "src").mkdir()
    (root / "src" / "s.py").write_text("import sys\nprint('step', sys.argv[1:])\n")
    (root / "pipe.py").write_text(pipeline_source(n))
    repo = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [sys.executable, "-m", "amlcompile.cli", "build", "pipe.py", "--out", "out"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    return root / "out" / f"aml_chain_{n}.py"


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000]
    with tempfile.TemporaryDirectory(prefix="amlcompile-dag-size-") as folder:
        for n in sizes:
            dag = build(Path(folder) / str(n), n)
            size = dag.stat().st_size
            print(f"aml chain {n}: {size} bytes, {size / n:.0f} bytes per step")


if __name__ == "__main__":
    main()
