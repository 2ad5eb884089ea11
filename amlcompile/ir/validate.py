"""Structural checks on the IR. Every problem is collected, none stops the others."""

from __future__ import annotations

from dataclasses import dataclass

from . import vm_sizes
from .models import (
    ParamArg,
    Pipeline,
    PortArg,
    SourceLocation,
    Step,
    StepOutputSource,
    UrlSource,
)


@dataclass(frozen=True)
class Problem:
    message: str
    location: SourceLocation | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


# (upstream, downstream) → (call order, call site) of the `run_after` call behind an edge.
OrderSites = dict[tuple[str, str], tuple[int, SourceLocation]]


def validate(p: Pipeline, order_sites: OrderSites | None = None) -> list[Problem]:
    """Every structural problem. `order_sites` says where each run_after edge was made, so a
    cycle is reported at the call that closed it rather than at a step's definition."""
    problems: list[Problem] = []
    steps_by_name: dict[str, int] = {}
    for s in p.steps:
        if s.name in steps_by_name:
            first = p.steps[steps_by_name[s.name]]
            problems.append(
                Problem(
                    f"duplicate step name {s.name!r} (first defined at {first.location})",
                    s.location,
                )
            )
        else:
            steps_by_name[s.name] = len(steps_by_name)

    computes = {c.name for c in p.computes}
    datastores = {d.name for d in p.datastores}
    params = {x.name for x in p.parameters}
    if p.default_datastore not in datastores:
        problems.append(Problem(f"unknown default datastore {p.default_datastore!r}", p.location))

    producers: dict[tuple[str, str], str] = {}
    for s in p.steps:
        if s.compute not in computes:
            problems.append(
                Problem(
                    f"step {s.name!r}: unknown compute target {s.compute!r}"
                    f" (known: {', '.join(sorted(computes)) or 'none'})",
                    s.location,
                )
            )
        ports = {port.name for port in s.inputs} | {port.name for port in s.outputs}
        for o in s.outputs:
            if o.datastore not in datastores:
                problems.append(
                    Problem(
                        f"step {s.name!r}: output {o.name!r} on unknown datastore {o.datastore!r}",
                        s.location,
                    )
                )
            producers[(s.name, o.name)] = s.name
        for i in s.inputs:
            src = i.source
            if isinstance(src, StepOutputSource):
                if src.step not in steps_by_name:
                    problems.append(
                        Problem(
                            f"step {s.name!r}: input {i.name!r} comes from step {src.step!r},"
                            " which is not in the pipeline",
                            s.location,
                        )
                    )
            elif isinstance(src, UrlSource):
                if s.kind not in ("python_script", "command"):
                    problems.append(
                        Problem(
                            f"step {s.name!r}: input {i.name!r} is downloaded from http(s) URLs,"
                            " which only script and command steps take; copy the files to a"
                            " datastore in a step before it",
                            s.location,
                        )
                    )
            elif src.param is not None and src.param not in params:
                problems.append(
                    Problem(
                        f"step {s.name!r}: input {i.name!r} takes its path from unknown"
                        f" pipeline parameter {src.param!r}",
                        s.location,
                    )
                )
            elif src.datastore not in datastores:
                problems.append(
                    Problem(
                        f"step {s.name!r}: input {i.name!r} on unknown datastore {src.datastore!r}",
                        s.location,
                    )
                )
        problems.extend(_kind_rules(s))
        for tok in s.tokens():
            if isinstance(tok, ParamArg) and tok.name not in params:
                problems.append(
                    Problem(f"step {s.name!r}: unknown pipeline parameter {tok.name!r}", s.location)
                )
            if isinstance(tok, PortArg) and tok.port not in ports:
                problems.append(
                    Problem(
                        f"step {s.name!r}: argument refers to unknown port {tok.port!r}", s.location
                    )
                )
        for up in s.run_after:
            if up not in steps_by_name:
                problems.append(
                    Problem(
                        f"step {s.name!r} runs after {up!r}, which is not in the pipeline",
                        s.location,
                    )
                )

    problems.extend(_compute_rules(p))
    if len(steps_by_name) == len(p.steps):  # with two steps of one name, edges are ambiguous
        problems.extend(_cycles(p, order_sites or {}))
    return problems


def _compute_rules(p: Pipeline) -> list[Problem]:
    problems = []
    for c in p.computes:
        if c.kind == "amlcompute" and c.vm_size and vm_sizes.lookup(c.vm_size) is None:
            near = vm_sizes.suggestions(c.vm_size)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            message = f"compute target {c.name!r}: unknown vm_size {c.vm_size!r}{hint}"
            problems.append(Problem(message, c.location))
        if c.min_nodes is not None and c.max_nodes is not None and c.min_nodes > c.max_nodes:
            problems.append(
                Problem(
                    f"compute target {c.name!r}: min_nodes {c.min_nodes} > max_nodes {c.max_nodes}",
                    c.location,
                )
            )
    kinds = {c.name: c.kind for c in p.computes}
    wants = {"databricks": "databricks", "adla": "adla"}
    for s in p.steps:
        need = wants.get(s.kind)
        if need and s.compute in kinds and kinds[s.compute] != need:
            problems.append(
                Problem(
                    f"step {s.name!r}: a {s.kind} step needs a {need} compute target,"
                    f" not {s.compute!r} ({kinds[s.compute]})",
                    s.location,
                )
            )
        if s.kind in ("python_script", "command", "parallel_run") and kinds.get(s.compute) in wants:
            problems.append(
                Problem(
                    f"step {s.name!r}: compute target {s.compute!r} ({kinds[s.compute]}) runs"
                    " only its own step kind (DatabricksStep or AdlaStep)",
                    s.location,
                )
            )
    problems.extend(_distributed_rules(p))
    return problems


def _distributed_rules(p: Pipeline) -> list[Problem]:
    """Multi-process steps: script or command steps, on a local or AmlCompute target whose
    max_nodes holds all their nodes at once."""
    problems = []
    computes = {c.name: c for c in p.computes}
    for s in p.steps:
        d = s.distributed
        if d is None:
            continue
        c = computes.get(s.compute)
        if s.kind not in ("python_script", "command"):
            message = (
                f"a {s.kind.replace('_', ' ')} step cannot be distributed ({d.kind},"
                f" {d.world_size} processes): only script and command steps on AmlCompute"
                " or local compute run several processes"
            )
        elif c is not None and c.kind not in ("local", "amlcompute"):
            message = (
                f"distributed training ({d.kind}) needs an AmlCompute or local compute target,"
                f" not {c.name!r} ({c.kind})"
            )
        elif c is not None and c.max_nodes is not None and d.node_count > c.max_nodes:
            message = (
                f"runs on {d.node_count} nodes at once but compute target {c.name!r} has"
                f" max_nodes {c.max_nodes}"
            )
        else:
            continue
        problems.append(Problem(f"step {s.name!r}: {message}", s.location))
    return problems


def _kind_rules(s: Step) -> list[Problem]:
    """What a step of each kind must carry; the SDK v1 constructor rules, checked once."""
    out: list[Problem] = []

    def bad(message: str) -> None:
        out.append(Problem(f"step {s.name!r}: {message}", s.location))

    if s.kind == "databricks":
        d = s.databricks
        if d is None:
            bad("a Databricks step without its Databricks settings")
            return out
        if d.existing_cluster_id and d.new_cluster:
            bad(
                "give either existing_cluster_id or a new-cluster spec (spark_version,"
                " node_type, num_workers, ...), not both"
            )
        if not d.existing_cluster_id and not d.new_cluster:
            bad("needs existing_cluster_id or a new-cluster spec (spark_version, node_type, ...)")
        if d.new_cluster:
            nc = d.new_cluster
            if not nc.get("spark_version"):
                bad("a new cluster needs spark_version")
            if not nc.get("node_type_id") and not nc.get("instance_pool_id"):
                bad("a new cluster needs node_type or instance_pool_id")
            if "num_workers" not in nc and "autoscale" not in nc:
                bad(
                    "a new cluster needs num_workers, or min_workers and max_workers (or give"
                    " existing_cluster_id)"
                )
    if s.kind == "parallel_run" and s.parallel_run is None:
        bad("a ParallelRunStep without its ParallelRunConfig settings")
    if s.kind == "parallel_run" and s.parallel_run is not None:
        ports = {i.name for i in s.inputs}
        for port in s.parallel_run.batch_inputs:
            if port not in ports:
                bad(f"mini-batch input {port!r} is not an input of the step")
    if s.kind == "adla" and s.adla is None:
        bad("an ADLA step without its script")
    if s.kind == "data_transfer" and (len(s.inputs) != 1 or len(s.outputs) != 1):
        bad("a data transfer needs exactly one source and one destination")
    if s.kind == "hyperdrive":
        out += _hyperdrive_rules(s, bad)
    return out


def _hyperdrive_rules(s: Step, bad) -> list[Problem]:
    hd = s.hyperdrive
    if hd is None:
        bad("a HyperDriveStep without its search")
        return []
    if not hd.trials and hd.sampling != "bayesian":
        bad("the search has no trial (an empty search space?)")
    filled = {*hd.metrics_outputs, *(port for port, _ in hd.model_outputs)}
    for t in s.arguments:
        if getattr(t, "port", None) in filled:
            bad(
                f"output {t.port!r} holds the search's metrics or best model (a TrainingOutput):"
                " it is written after the trials, so a trial's arguments cannot name it"
            )
    names = [n for n, _ in hd.trials[0]] if hd.trials else [n for n, _, _ in hd.space]
    for n in sorted({n for n in names if names.count(n) > 1}):
        bad(f"hyperparameter {n!r} is given twice")
    return []


def _cycles(p: Pipeline, order_sites: OrderSites) -> list[Problem]:
    graph: dict[str, list[str]] = {s.name: [] for s in p.steps}
    for e in p.edges():
        if e.upstream in graph and e.downstream in graph:
            graph[e.upstream].append(e.downstream)
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    problems: list[Problem] = []
    locations = {s.name: s.location for s in p.steps}

    for root in graph:  # iterative DFS: deep chains must not hit the recursion limit
        if color[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        color[root] = grey
        path.append(root)
        while stack:
            node, idx = stack[-1]
            if idx < len(graph[node]):
                stack[-1] = (node, idx + 1)
                nxt = graph[node][idx]
                if color[nxt] == grey:
                    cycle = path[path.index(nxt) :] + [nxt]
                    problems.append(_cycle_problem(cycle, order_sites, locations[nxt]))
                elif color[nxt] == white:
                    color[nxt] = grey
                    path.append(nxt)
                    stack.append((nxt, 0))
            else:
                color[node] = black
                path.pop()
                stack.pop()
    return problems


def _cycle_problem(cycle: list[str], order_sites: OrderSites, fallback: SourceLocation) -> Problem:
    """At the latest `run_after` call among the cycle's edges (the one that closed it), else
    at the step where the cycle was found (a cycle made of data edges only)."""
    text = "cycle between steps: " + " -> ".join(cycle)
    calls = [
        (order_sites[edge], edge)
        for edge in zip(cycle, cycle[1:], strict=False)
        if edge in order_sites
    ]
    if not calls:
        return Problem(text, fallback)
    (_, site), (up, down) = max(calls, key=lambda c: c[0][0])
    return Problem(f"{text} (closed by {down}.run_after({up}))", site)


def topological_order(p: Pipeline) -> list[str]:
    """Steps in a stable topological order (declaration order breaks ties)."""
    order_index = {s.name: i for i, s in enumerate(p.steps)}
    indegree = dict.fromkeys(order_index, 0)
    children: dict[str, list[str]] = {n: [] for n in order_index}
    for e in p.edges():
        indegree[e.downstream] += 1
        children[e.upstream].append(e.downstream)
    import heapq

    ready = [(order_index[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                heapq.heappush(ready, (order_index[c], c))
    return out
