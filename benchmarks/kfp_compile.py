"""Compiles one benchmark graph with the Kubeflow Pipelines SDK (run in the kfp venv).

    python kfp_compile.py SHAPE STEPS OUT.yaml

The same graph as amlcompile's: one container step per node (python s.py --i N), ordered
by .after() (no data between steps, like amlcompile's run_after). Shape `aml_chain` is the
chain with data: each step takes a pipeline parameter (`rate`), writes a dataset the next
one reads, and asks for the node's CPU, memory and node type (amlcompile's AmlCompute
target becomes the same pod requests and node selector).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphs import parents  # noqa: E402
from kfp import compiler, dsl  # noqa: E402


@dsl.container_component
def step(i: int):
    return dsl.ContainerSpec(image="python:3.11-slim", command=["python", "s.py"], args=["--i", i])


@dsl.container_component
def first_data_step(i: int, rate: float, out: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image="python:3.11-slim",
        command=["python", "s.py"],
        args=["--i", i, "--rate", rate, "--out", out.path],
    )


@dsl.container_component
def data_step(i: int, rate: float, inp: dsl.Input[dsl.Dataset], out: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image="python:3.11-slim",
        command=["python", "s.py"],
        args=["--i", i, "--rate", rate, "--out", out.path, "--in", inp.path],
    )


def on_node(task):
    """The AmlCompute target's pod settings (STANDARD_D2_V2: 2 cores, 7 GB)."""
    task.set_cpu_request("1800m").set_memory_request("5734Mi").set_memory_limit("5734Mi")
    return task.add_node_selector_constraint("Standard_D2_v2")


def main() -> None:
    shape, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if shape == "aml_chain":

        @dsl.pipeline(name=f"{shape}-{n}")
        def data_pipeline(rate: float = 0.01):
            prev = on_node(first_data_step(i=0, rate=rate).set_display_name("s0"))
            for i in range(1, n):
                task = data_step(i=i, rate=rate, inp=prev.outputs["out"]).set_display_name(f"s{i}")
                prev = on_node(task)

        compiler.Compiler().compile(data_pipeline, out)
        return
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
