"""Hypothesis strategies for hostile pipelines, written as DSL source, and their expected DAGs.

A pipeline is drawn as a plain description (`PipelineSpec`), written out as a `.py` file that
uses the public DSL exactly as a user would (every value as a Python literal), and compared with
what Airflow imports. `expected_refusals` is the oracle: the reasons a build must refuse it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from amlcompile.dsl.capture import sanitize_id, unique_name

PLAN = "amlcompile_reuse_plan"
CANARY = "PWNED"  # no file of this name may ever appear: the payloads below try to create one

# Pieces that break quoting, templating, comments, shells or text direction.
HOSTILE = [
    "'",
    '"',
    "'''",
    '"""',
    "\\",
    "\\'",
    '\\"',
    "\n",
    "\r\n",
    "\t",
    "\u2028",
    "\x0c",
    "#",
    "{{ ds }}",
    "{{ ti.xcom_pull() }}",
    "{% raw %}",
    "{% endraw %}",
    "{# c #}",
    "}}",
    "{%",
    "\u202e",
    "\u200f",
    "\ufeff",
    "\u0301",
    "é漢字🙂",
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "| touch PWNED",
    "'); open('PWNED', 'w') #",
    '"); open("PWNED", "w") #',
    "\nopen('PWNED', 'w')\n#",
    "{{ open('PWNED', 'w') }}",
    "__import__('os').system('touch PWNED')",
    "x" * 300,
    "字" * 120,
    " ",
    "",
]
# What no argument, environment variable or database text can hold: always refused.
POISON = ["\x00", "\ud800", "\udcff"]

plain_chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
piece = st.sampled_from(HOSTILE) | st.text(plain_chars, max_size=12)
texts = st.lists(piece, max_size=3).map("".join)
# Now and then a poisoned value (about one draw in twelve).
# (Rare branches test a middle value: hypothesis favours the ends of integer ranges.)
maybe_poisoned = st.integers(0, 11).flatmap(
    lambda n: st.tuples(texts, st.sampled_from(POISON)).map("".join) if n == 5 else texts
)
numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
scalars = st.integers(0, 15).flatmap(
    lambda n: non_finite if n == 7 else (numbers | st.booleans() if n < 6 else maybe_poisoned)
)
# File and folder names: anything a file system holds, including undecodable bytes (\udcxx).
segment_chars = st.characters(exclude_categories=("Cs",), exclude_characters="/\x00")
segments = (
    st.lists(st.sampled_from(["'", '"""', "\\", "\n", "{{ x }}", " ", "-", "é", "\udcff"]))
    .map("".join)
    .flatmap(lambda s: st.text(segment_chars, max_size=20).map(lambda t: s + t))
    .filter(lambda s: s not in ("", ".", "..") and len(s.encode("utf-8", "surrogateescape")) < 200)
)
file_names = st.tuples(
    st.sampled_from(["x", "'", '"""', "\n", "\nopen('PWNED', 'w')\n#", "\udcff", "{{ x }}", "\\"]),
    segments | st.just(""),
).map(lambda parts: "".join(parts) + ".py")
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
param_names = st.integers(0, 9).flatmap(
    lambda n: texts.filter(bool) | st.just("regenerate_outputs") if n == 5 else identifiers
)
env_keys = st.integers(0, 15).flatmap(
    lambda n: texts if n == 5 else st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)
)
step_names = st.integers(0, 15).flatmap(
    lambda n: (
        st.just(PLAN)
        if n == 5
        else st.none() | texts | st.sampled_from(["..", ".", "...x", "a", "_a_"])
    )
)
# One in eight a refused path: absolute or climbing out of its datastore.
data_paths = st.integers(0, 15).flatmap(
    lambda n: st.sampled_from(["/etc", "../x", "a/../../b", "\\x"]) if n == 5 else texts
)
# Airflow allows tags of up to 100 characters: one in eight is longer.
tag_texts = st.integers(0, 7).flatmap(lambda n: texts if n == 5 else texts.map(lambda t: t[:40]))


@dataclass
class StepSpec:
    kind: str  # "python" | "shell" | "argv"
    name: str | None
    folder: str
    script: str
    command: str  # shell only
    outputs: list[str]  # PipelineData names
    args: list[tuple]  # ("lit", v) | ("param", i) | ("out", k) | ("in", j, k) | ("ref", n, path)
    env: list[tuple[str, tuple]]  # (key, ("lit", v) | ("param", i))
    after: list[int]
    allow_reuse: bool


@dataclass
class PipelineSpec:
    file: str
    name: str | None
    description: str | None
    tags: dict[str, str]
    params: list[tuple[str, object]]
    steps: list[StepSpec] = field(default_factory=list)


@st.composite
def pipeline_specs(draw) -> PipelineSpec:
    params = draw(st.lists(st.tuples(param_names, scalars), max_size=3, unique_by=lambda p: p[0]))
    spec = PipelineSpec(
        file=draw(file_names),
        name=draw(st.none() | texts),
        description=draw(st.none() | maybe_poisoned),
        tags=draw(st.dictionaries(tag_texts, tag_texts, max_size=2)),
        params=params,
    )
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["python", "shell", "argv"]))
        outputs = draw(st.lists(texts, max_size=2))
        earlier = [(j, k) for j, s in enumerate(spec.steps) for k in range(len(s.outputs))]
        arg = st.tuples(st.just("lit"), scalars)
        if params:
            arg |= st.tuples(st.just("param"), st.integers(0, len(params) - 1))
        if outputs:
            arg |= st.tuples(st.just("out"), st.integers(0, len(outputs) - 1))
        if earlier:
            arg |= st.sampled_from(earlier).map(lambda jk: ("in", *jk))
        arg |= st.tuples(st.just("ref"), texts, data_paths)
        value = st.tuples(st.just("lit"), scalars)
        if params:
            value |= st.tuples(st.just("param"), st.integers(0, len(params) - 1))
        spec.steps.append(
            StepSpec(
                kind=kind,
                name=draw(step_names),
                folder=draw(segments),
                # a backslash in script_name is a Windows separator (SDK v1 scripts use them)
                script=draw(segments.filter(lambda x: "\\" not in x)),
                command=draw(maybe_poisoned),
                outputs=outputs,
                args=draw(st.lists(arg, max_size=5)),
                env=draw(
                    st.lists(st.tuples(env_keys, value), max_size=2, unique_by=lambda e: e[0])
                ),
                after=draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else [],
                allow_reuse=draw(st.booleans()),
            )
        )
    return spec


# ---- writing the DSL file ----


def _data_inputs(s: StepSpec) -> list[str]:
    names = []
    for a in s.args:
        if a[0] == "in":
            names.append(f"d{a[1]}_{a[2]}")
    return list(dict.fromkeys(names))


def _expr(spec: PipelineSpec, i: int, a: tuple) -> str:
    if a[0] == "lit":
        return _py(a[1])
    if a[0] == "param":
        return f"p{a[1]}"
    if a[0] == "out":
        return f"d{i}_{a[1]}"
    if a[0] == "in":
        return f"d{a[1]}_{a[2]}"
    return f"r{i}_{spec.steps[i].args.index(a)}"


def _py(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def write_project(root: Path, spec: PipelineSpec) -> Path:
    """The pipeline file and the step scripts, on disk under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'hostile'\n")
    lines = [
        "from amlcompile import *",
        "ws = Workspace.from_config()",
        "ds = ws.get_default_datastore()",
    ]
    for n, (name, default) in enumerate(spec.params):
        lines.append(f"p{n} = PipelineParameter({name!r}, default_value={_py(default)})")
    for i, s in enumerate(spec.steps):
        folder = root / s.folder
        folder.mkdir(exist_ok=True)
        if s.kind == "python":
            (folder / s.script).write_text("import sys\nprint(sys.argv[1:])\n")
        for k, out in enumerate(s.outputs):
            lines.append(f"d{i}_{k} = PipelineData({out!r}, datastore=ds)")
        refs = []
        for m, a in enumerate(s.args):
            if a[0] == "ref" and s.args.index(a) == m:
                lines.append(f"r{i}_{m} = DataReference(ds, {a[1]!r}, {a[2]!r})")
                refs.append(f"r{i}_{m}")
        args = ", ".join(_expr(spec, i, a) for a in s.args)
        inputs = ", ".join(_data_inputs(s) + refs)
        outputs = ", ".join(f"d{i}_{k}" for k in range(len(s.outputs)))
        env = ", ".join(f"{k!r}: {_expr(spec, i, v)}" for k, v in s.env)
        common = (
            f"name={s.name!r}, source_directory={s.folder!r}, inputs=[{inputs}],"
            f" outputs=[{outputs}], params={{{env}}}, allow_reuse={s.allow_reuse!r}"
        )
        if s.kind == "python":
            lines.append(f"s{i} = PythonScriptStep({s.script!r}, arguments=[{args}], {common})")
        elif s.kind == "argv":
            lines.append(f"s{i} = CommandStep(['python', 'x.py', {args}], {common})")
        else:
            lines.append(f"s{i} = CommandStep({s.command!r}, {common})")
        lines += [f"s{i}.run_after(s{j})" for j in s.after]
    steps = ", ".join(f"s{i}" for i in range(len(spec.steps)))
    lines.append(
        f"pipe = Pipeline(ws, steps=[{steps}], description={spec.description!r},"
        f" name={spec.name!r}, tags={spec.tags!r})"
    )
    path = root / spec.file
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- the oracle ----


def _bad_text(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, str) and any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value)


def task_ids(spec: PipelineSpec) -> list[str]:
    """Explicit names sanitized first, then the others after their script (or `command`)."""
    ids: dict[int, str] = {}
    for i, s in enumerate(spec.steps):
        if s.name is not None:
            ids[i] = sanitize_id(s.name)
    taken = set(ids.values())
    for i, s in enumerate(spec.steps):
        if i not in ids:
            base = "command" if s.kind != "python" else Path(s.script).stem
            ids[i] = unique_name(sanitize_id(base or "step"), taken)
            taken.add(ids[i])
    return [ids[i] for i in range(len(spec.steps))]


def expected_refusals(spec: PipelineSpec) -> list[str]:
    why = []
    used = {
        a[1]
        for s in spec.steps
        for a in [*(s.args if s.kind != "shell" else []), *(v for _, v in s.env)]
        if a[0] == "param"
    }
    for n, (name, default) in enumerate(spec.params):
        if n not in used:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name == "regenerate_outputs":
            why.append(f"parameter name {name!r}")
        if _bad_text(default):
            why.append(f"parameter default {default!r}")
    if spec.description is not None and _bad_text(spec.description):
        why.append("description")
    for k, v in spec.tags.items():
        if len(f"{k}:{v}") > 100:
            why.append("long tag")
    ids = task_ids(spec)
    explicit = [ids[i] for i, s in enumerate(spec.steps) if s.name is not None]
    if len(set(explicit)) < len(explicit):
        why.append("duplicate step names")
    if PLAN in ids:
        why.append("reserved step name")
    for s in spec.steps:
        if s.kind == "python" and _bad_text(s.script):
            why.append("script name")
        if s.kind == "shell" and _bad_text(s.command):
            why.append("shell command")
        if s.kind != "shell":
            for a in s.args:
                if a[0] == "lit" and _bad_text(a[1]):
                    why.append(f"argument {a[1]!r}")
        for a in s.args:
            if a[0] == "ref":
                path = a[2]
                if _bad_text(path) or path.startswith(("/", "\\")):
                    why.append(f"data path {path!r}")
                elif ".." in Path(path.replace("\\", "/")).parts:
                    why.append(f"data path {path!r}")
        for key, value in s.env:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
                why.append(f"env key {key!r}")
            elif value[0] == "lit" and _bad_text(value[1]):
                why.append(f"env value {value[1]!r}")
    return why


def _token(spec: PipelineSpec, a: tuple):
    if a[0] == "lit":  # a literal is its plain value in the STEPS table
        return a[1]
    if a[0] == "param":
        return {"param": spec.params[a[1]][0]}
    return {"port": None}  # ports are checked by where they lead, not by their name


def expected_dag(spec: PipelineSpec) -> dict:
    """What Airflow must import: tasks, edges, params and each step's argument tokens."""
    ids = task_ids(spec)
    edges = set()
    params = {}
    steps = {}
    for i, s in enumerate(spec.steps):
        for a in s.args:
            if a[0] == "in":
                edges.add((ids[a[1]], ids[i]))
        edges |= {(ids[j], ids[i]) for j in s.after}
        tokens = [*(s.args if s.kind != "shell" else []), *(v for _, v in s.env)]
        for a in tokens:
            if a[0] == "param":
                name, default = spec.params[a[1]]
                params[name] = default
        ports = []
        for a in s.args if s.kind != "shell" else []:
            if a[0] == "in":
                ports.append({"step": ids[a[1]]})
            elif a[0] == "ref":
                ports.append({"path": a[2]})
            elif a[0] == "out":
                ports.append({"output": True})
            else:
                ports.append(None)
        entry = {
            "arguments": [_token(spec, a) for a in s.args] if s.kind == "python" else [],
            "ports": ports,
            "env": [[f"AML_PARAMETER_{k}", _token(spec, v)] for k, v in sorted(s.env)],
            "allow_reuse": s.allow_reuse,
        }
        if s.kind == "python":
            entry["script"] = s.script
        elif s.kind == "shell":
            entry["shell_command"] = s.command
        else:
            entry["command"] = ["python", "x.py"] + [_token(spec, a) for a in s.args]
        steps[ids[i]] = entry
    downstream = {d for _, d in edges}
    edges |= {(PLAN, t) for t in ids if t not in downstream}
    return {
        "dag_id": sanitize_id(spec.name or "pipe"),
        "tasks": sorted([PLAN, *ids]),
        "edges": sorted([list(e) for e in edges]),
        "params": {**params, "regenerate_outputs": False},
        "description": spec.description,
        "tags": sorted({"amlcompile", *(f"{k}:{v}" for k, v in spec.tags.items())}),
        "steps": steps,
    }
