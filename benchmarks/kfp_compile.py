"""Compiles one benchmark graph with the Kubeflow Pipelines SDK (run in the kfp venv).

    python kfp_compile.py SHAPE STEPS OUT.yaml

The same graph as amlcompile's: one container step per node (python s.py --i N), ordered
by .after() (no data between steps, like amlcompile's run_after).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphs import parents  # noqa: E402
from kfp import compiler, dsl  # noqa: E402


@dsl.container_component
def step(i: int):
    return dsl.ContainerSpec(image="python:3.11-slim", command=["python", "s.py"], args=["--i", i])


def main() -> None:
    shape, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    graph = parents(shape, n)

    @dsl.pipeline(name=f"{shape}-{n}")
    def pipeline():
        tasks = []
        for i, ps in enumerate(graph):
            task = step(i=i).set_display_name(f"s{i}")
            if ps:
                task.after(*[tasks[j] for j in ps])
            tasks.append(task)

    compiler.Compiler().compile(pipeline, out)


if __name__ == "__main__":
    main()
