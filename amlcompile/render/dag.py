"""Task specs → DAG source text through a jinja2 template (replaceable with --template)."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import jinja2

from .. import __version__
from ..ir import models as ir
from ..ir.validate import topological_order
from ..runtime.reuse import REGENERATE_PARAM
from ..targets import TaskSpec
from .bundle import runtime_import
from .pyliteral import literal

_RESERVED = {"dag", "DAG", "Param", "DATASTORES"}


def template_dir() -> Path:
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if (checkout / "dag.py.j2").is_file():
        return checkout
    return Path(__file__).resolve().parents[1] / "templates"


def _environment(template: Path | None) -> tuple[jinja2.Environment, str]:
    folder, name = (template.parent, template.name) if template else (template_dir(), "dag.py.j2")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["py"] = lambda value, indent=0: literal(value, indent)
    return env, name


def _variables(task_ids: list[str], imported: set[str]) -> dict[str, str]:
    out, taken = {}, set(_RESERVED) | imported
    for tid in task_ids:
        base = re.sub(r"\W", "_", tid, flags=re.ASCII)
        if not base or base[0].isdigit() or keyword.iskeyword(base) or base.startswith("__"):
            base = f"task_{base}"
        cand, n = base, 1
        while cand in taken:
            n += 1
            cand = f"{base}_{n}"
        taken.add(cand)
        out[tid] = cand
    return out


def render(p: ir.Pipeline, tasks: list[TaskSpec], template: Path | None = None) -> str:
    env, name = _environment(template)
    by_id = {t.task_id: t for t in tasks}
    first = [t for t in tasks if t.before_roots]
    ordered = first + [by_id[n] for n in topological_order(p) if n in by_id]
    imports: dict[str, set[str]] = {}
    for t in ordered:
        imports.setdefault(runtime_import(t.operator.module), set()).add(t.operator.name)
    imported = {n for names in imports.values() for n in names}
    variables = _variables([t.task_id for t in ordered], imported)
    position = {t.task_id: i for i, t in enumerate(ordered)}
    pairs = [(e.upstream, e.downstream) for e in p.edges()]
    has_upstream = {down for _, down in pairs}
    roots = [s.name for s in p.steps if s.name not in has_upstream and s.name in by_id]
    pairs += [(t.task_id, root) for t in first for root in roots]
    pairs.sort(key=lambda e: (position[e[0]], position[e[1]]))
    edges = [(variables[up], variables[down]) for up, down in pairs]
    doc = [f"Compiled by amlcompile from `{p.source_file}` (pipeline defined at `{p.location}`)."]
    if p.description:
        doc += ["", p.description]
    source = env.get_template(name).render(
        version=__version__,
        source_file=p.source_file,
        dag_id=p.name,
        description=p.description,
        docstring=f"Airflow DAG for the pipeline {p.name}"
        + (f": {p.description}" if p.description else "."),
        tags=sorted({"amlcompile", *[f"{k}:{v}" for k, v in p.tags]}),
        params=[
            {
                "name": x.name,
                "default": x.default,
                "type": x.type,
                "description": f"pipeline parameter (default {x.default!r})",
            }
            for x in p.parameters
        ]
        + [
            {
                "name": REGENERATE_PARAM,
                "default": False,
                "type": "boolean",
                "description": "run every step even when a reusable result exists",
            }
        ],
        datastores={
            d.name: {"kind": d.kind, "path": d.path, "conn_id": d.conn_id} for d in p.datastores
        },
        doc_md="\n".join(doc),
        imports=sorted((m, sorted(n)) for m, n in imports.items()),
        tasks=[
            {
                "var": variables[t.task_id],
                "operator": t.operator.name,
                "task_id": t.task_id,
                "kwargs": sorted(t.kwargs.items()),
                "shared": sorted(t.shared.items()),
                "doc_md": t.doc_md,
            }
            for t in ordered
        ],
        edges=edges,
    )
    # A template or escaping bug must never produce a file Airflow can't parse. compile()
    # finds the same errors as ast.parse without building Python AST objects (3× faster).
    compile(source, f"<DAG of {p.name}>", "exec", dont_inherit=True)
    return source
