"""Compile and memory figures: `amlcompile build` vs the Kubeflow Pipelines SDK compiler.

Both tools are measured the same way: one process per compile (interpreter start, imports,
defining the pipeline, compiling, writing), wall time from spawn to exit, and the peak
resident memory of that process (`wait4`). One untimed compile of the smallest pipeline per
tool warms the page cache first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from graphs import SHAPES, parents

HERE = Path(__file__).resolve().parent
# Compiled only (no parse figures): the chain with data, parameters and a compute target.
DATA_SHAPES = ("aml_chain",)
COMPILE_SHAPES = SHAPES + DATA_SHAPES


def aml_chain_source(n: int) -> str:
    """The chain with data: every step on an AmlCompute target, taking a PipelineParameter
    and the PipelineData its predecessor wrote (kfp_compile.py builds the same)."""
    return (
        "from amlcompile import *\n"
        "ws = Workspace.from_config()\n"
        "ds = ws.get_default_datastore()\n"
        'cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)\n'
        'cpu = ComputeTarget.create(ws, "cpu-cluster", cfg)\n'
        'rate = PipelineParameter(name="rate", default_value=0.01)\n'
        "prev = None\n"
        "steps = []\n"
        f"for i in range({n}):\n"
        "    out = PipelineData(f'd{i}', datastore=ds)\n"
        "    args = ['--i', str(i), '--rate', rate, '--out', out]\n"
        "    args += ['--in', prev] if prev is not None else []\n"
        "    steps.append(PythonScriptStep('s.py', name=f's{i}', source_directory='src',\n"
        "        compute_target=cpu, arguments=args, inputs=[prev] if prev is not None else [],\n"
        "        outputs=[out]))\n"
        "    prev = out\n"
        f"aml_chain_{n} = Pipeline(ws, steps=[steps[-1]])\n"
    )


def pipeline_source(shape: str, n: int) -> str:
    """An amlcompile pipeline file: one PythonScriptStep per node, ordered by run_after.

    The graph is one string constant: as a list literal it would make the module's code
    object huge, and Python finds a frame's line number (the DSL records where each step is
    created) by scanning that code's line table, once per step: quadratic in steps."""
    if shape == "aml_chain":
        return aml_chain_source(n)
    return (
        "import json\n"
        "from amlcompile import *\n"
        f"PARENTS = json.loads({json.dumps(json.dumps(parents(shape, n)))})\n"
        "ws = Workspace.from_config()\n"
        "steps = []\n"
        "for i, ps in enumerate(PARENTS):\n"
        "    s = PythonScriptStep('s.py', name=f's{i}', source_directory='src',\n"
        "                         arguments=['--i', str(i)])\n"
        "    for j in ps:\n"
        "        s.run_after(steps[j])\n"
        "    steps.append(s)\n"
        f"{shape}_{n} = Pipeline(ws, steps=steps)\n"
    )


def make_project(
    root: Path, sizes: list[int], shapes=COMPILE_SHAPES
) -> dict[tuple[str, int], Path]:
    """One small project: a 1-file source directory shared by every step of every pipeline."""
    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "s.py").write_text("import sys\nprint('step', sys.argv[1:])\n")
    files = {}
    for shape in shapes:
        for n in sizes:
            f = root / "pipelines" / f"{shape}_{n}.py"
            f.parent.mkdir(exist_ok=True)
            f.write_text(pipeline_source(shape, n))
            files[shape, n] = f
    return files


# As installed: byte-code caches written and used. A checkout may set PYTHONDONTWRITEBYTECODE,
# and then every process compiles each module edited since its cache was last written.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], cwd: Path, timeout: float) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, peak RSS in MB) of one child process; raises on failure
    or timeout. CPU time (user + system) is the figure compared: the machines these run on
    are shared, and wall time there measures the neighbours as much as the tool."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise TimeoutError(f"{' '.join(argv[:4])} took over {timeout:.0f} s")
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stderr.read()[-2000:]!r}")
    return usage.ru_utime + usage.ru_stime, seconds, usage.ru_maxrss / 1024


def amlcompile_argv(pipeline: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "amlcompile.cli", "build", str(pipeline), "--out", str(out)]


def kfp_argv(kfp_python: str, shape: str, n: int, out: Path) -> list[str]:
    return [kfp_python, str(HERE / "kfp_compile.py"), shape, str(n), str(out)]


def measure(
    root: Path, sizes, repeats, kfp_python, kfp_timeout, kfp_max_steps, log, shapes=COMPILE_SHAPES
) -> dict:
    """{(shape, n): {"aml": [(cpu, wall, MB)...], "kfp": [...], "kfp_note": str, "dag": Path}}."""
    files = make_project(root, sizes)
    shape0, n0 = shapes[0], sizes[0]
    timed(amlcompile_argv(files[shape0, n0], root / "out" / "warm"), root, 600)
    if kfp_python:
        timed(kfp_argv(kfp_python, shape0, n0, root / "warm.yaml"), root, 600)
    results = {}
    for n in sizes:
        for shape in shapes:
            aml, kfp, note = [], [], ""
            if not kfp_python:
                note = "kfp not installed"
            elif n > kfp_max_steps:
                note = f"not run above {kfp_max_steps} steps"
            for r in range(repeats(n)):
                out = root / "out" / f"{shape}_{n}_{r}"
                aml.append(timed(amlcompile_argv(files[shape, n], out), root, 3600))
                if not note:
                    try:
                        argv = kfp_argv(kfp_python, shape, n, root / "k.yaml")
                        kfp.append(timed(argv, root, kfp_timeout))
                    except TimeoutError:
                        note = f"over {kfp_timeout:.0f} s, stopped"
            results[shape, n] = {
                "aml": aml,
                "kfp": kfp,
                "kfp_note": note,
                "dag": out / f"{shape}_{n}.py",
            }
            log(
                f"compile {shape} {n}: amlcompile {[round(a[0], 2) for a in aml]}"
                f" kfp {[round(k[0], 2) for k in kfp]} {note}"
            )
    return results


FLOOR_CHILDREN = {
    "interpreter": "pass",
    "import amlcompile": "import amlcompile, amlcompile.cli",
}


def floor(repeats: int) -> dict[str, list[tuple[float, float, float]]]:
    """The fixed cost of every build: starting Python, then importing the compiler (and what
    a pipeline file's `from amlcompile import *` loads), one process each."""
    return {
        what: [timed([sys.executable, "-c", code], HERE, 600) for _ in range(repeats)]
        for what, code in FLOOR_CHILDREN.items()
    }


def parse_variants(child: Path, env: dict, generated: Path) -> dict:
    return _parse_child(child, env, "variants", str(generated))


def parse_measure(child: Path, env: dict, repeat: int, files: list[Path]) -> dict:
    return _parse_child(child, env, "measure", str(repeat), *map(str, files))


def _parse_child(child: Path, env: dict, *args: str) -> dict:
    """Run the parse child; its last output line is the JSON result."""
    out = subprocess.run(
        [sys.executable, str(child), *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])
