"""Task specs: what a lowered step is, as plain data the renderer turns into source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import models as ir


@dataclass(frozen=True)
class OperatorRef:
    module: str  # may contain "{runtime}", replaced by the versioned runtime package name
    name: str


@dataclass
class TaskSpec:
    task_id: str
    operator: OperatorRef
    kwargs: dict  # plain data only: str, int, float, bool, None, list, dict
    doc_md: str
    # kwargs whose value is a module-level constant of the DAG file, by constant name
    shared: dict[str, str] = field(default_factory=dict)


def token(arg: ir.LiteralArg | ir.ParamArg | ir.PortArg) -> dict:
    if isinstance(arg, ir.LiteralArg):
        return {"literal": arg.value}
    if isinstance(arg, ir.ParamArg):
        return {"param": arg.name}
    return {"port": arg.port}


def step_payload(p: ir.Pipeline, s: ir.Step) -> dict:
    """The runtime's view of a step: ports and typed argument tokens."""
    inputs = []
    for port in s.inputs:
        entry: dict = {"name": port.name, "mode": port.mode}
        if isinstance(port.source, ir.StepOutputSource):
            producer = p.step(port.source.step)
            out = next(o for o in producer.outputs if o.name == port.source.output)
            entry.update(step=port.source.step, output=port.source.output, datastore=out.datastore)
        else:
            entry.update(datastore=port.source.datastore, path=port.source.path)
        if port.path_on_compute:
            entry["path_on_compute"] = port.path_on_compute
        inputs.append(entry)
    payload = {
        "name": s.name,
        "kind": s.kind,
        "snapshot": s.snapshot.id,
        "arguments": [token(a) for a in s.arguments],
        "inputs": inputs,
        "outputs": [{"name": o.name, "datastore": o.datastore} for o in s.outputs],
        "env": [[k, token(v)] for k, v in s.environment_variables],
        "allow_reuse": s.allow_reuse,
    }
    if s.kind == "python_script":
        payload["script"] = s.script
    elif s.shell_command is not None:
        payload["shell_command"] = s.shell_command
    else:
        payload["command"] = [token(a) for a in s.command or ()]
    return payload


def doc_md(s: ir.Step, target: str) -> str:
    reuse = "allowed" if s.allow_reuse else "disabled (allow_reuse=False)"
    lines = [
        f"**{s.name}** ({s.kind.replace('_', ' ')} on {target})",
        "",
        f"- defined at `{s.location}`",
        f"- reuse: {reuse}",
        f"- code snapshot: `{s.snapshot.id}` ({len(s.snapshot.files)} files)",
    ]
    if s.hash_paths:
        lines.append("- hash_paths: " + ", ".join(f"`{h}`" for h in s.hash_paths))
    if s.version:
        lines.append(f"- version: `{s.version}`")
    return "\n".join(lines)
