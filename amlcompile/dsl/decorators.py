"""The native surface: `@pipeline` functions and `@step` functions called inside them."""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from pathlib import Path
from typing import Annotated, get_args, get_origin, get_type_hints

from ..exceptions import BuildError, UserErrorException
from ..ir.validate import Problem
from ..text import did_you_mean
from . import session
from .data import DataPath, DataReference, PipelineData, PipelineDataInput, PipelineParameter
from .location import caller_location
from .pipeline import Pipeline
from .steps import PythonScriptStep


class _PathMarker:
    direction = ""

    def __repr__(self) -> str:
        return self.direction


class Input(_PathMarker):
    """Annotation: this parameter is a path to read (a DataReference or an upstream output)."""

    direction = "Input"


class Output(_PathMarker):
    """Annotation: this parameter is a folder the step writes; it becomes a PipelineData."""

    direction = "Output"


def _direction(annotation):
    if annotation in (Input, Output):
        return annotation.direction
    if isinstance(annotation, _PathMarker):
        return annotation.direction
    if get_origin(annotation) is Annotated:
        for extra in get_args(annotation)[1:]:
            if extra in (Input, Output) or isinstance(extra, _PathMarker):
                return extra.direction
    return None


_SCALAR_PARSERS = {int: "int", float: "float", str: "str", bool: "_bool"}


class StepOutputs:
    """The outputs of a @step call, by parameter name."""

    def __init__(self, step, outputs: dict[str, PipelineData]):
        self.step = step
        self._outputs = outputs
        for k, v in outputs.items():
            setattr(self, k, v)

    def __iter__(self):
        return iter(self._outputs.values())

    def __getitem__(self, key):
        return self._outputs[key]


class StepDefinition:
    def __init__(
        self,
        fn,
        compute=None,
        source_directory=None,
        allow_reuse=True,
        environment=None,
        name=None,
        airflow=None,
    ):
        functools.update_wrapper(self, fn)
        # Airflow task settings (owner, retries, retry_delay, execution_timeout); checked,
        # with the step's file and line, when the pipeline is captured.
        self.airflow = dict(airflow or {})
        self.fn = fn
        self.compute = compute
        self.source_directory = source_directory
        self.allow_reuse = allow_reuse
        self.environment = environment
        self.step_name = name or fn.__name__
        self.signature = inspect.signature(fn)
        try:
            self.hints = get_type_hints(fn, include_extras=True)
        except Exception:  # unresolvable forward references: fall back to raw annotations
            self.hints = {k: p.annotation for k, p in self.signature.parameters.items()}
        self.file = inspect.getsourcefile(fn)
        self.line = inspect.getsourcelines(fn)[1]
        self._code_cache = None

    def __call__(self, *args, **kwargs):
        if not session._capture_stack:
            return self.fn(*args, **kwargs)  # outside a pipeline body: a plain function
        bound = self.signature.bind_partial(*args, **kwargs)
        arguments, inputs, outputs = [], [], {}
        for pname, param in self.signature.parameters.items():
            direction = _direction(self.hints.get(pname, param.annotation))
            if direction == "Output":
                if pname in bound.arguments:
                    data = bound.arguments[pname]
                    if not isinstance(data, PipelineData):
                        raise UserErrorException(
                            f"{self.step_name}: output {pname!r} must be a PipelineData if given"
                        )
                else:
                    data = PipelineData(pname)
                outputs[pname] = data
                arguments += [f"--{pname}", data]
                continue
            if pname not in bound.arguments:
                if param.default is inspect.Parameter.empty:
                    raise UserErrorException(f"{self.step_name}: missing argument {pname!r}")
                value = param.default
                if value is None:
                    continue
            else:
                value = bound.arguments[pname]
            if direction == "Input":
                if not isinstance(
                    value, (PipelineData, PipelineDataInput, DataReference, DataPath, StepOutputs)
                ):
                    raise UserErrorException(
                        f"{self.step_name}: input {pname!r} needs data (PipelineData,"
                        f" DataReference or a step's output), got {type(value).__name__}"
                    )
                if isinstance(value, StepOutputs):
                    value = next(iter(value))
                inputs.append(value)
            arguments += [f"--{pname}", value]
        step = PythonScriptStep(
            script_name=f"_amlcompile_step_{self.fn.__name__}.py",
            name=self.step_name,
            arguments=arguments,
            compute_target=self.compute,
            inputs=inputs,
            outputs=list(outputs.values()),
            source_directory=self.source_directory,
            allow_reuse=self.allow_reuse,
        )
        step._explicit_name = False  # derived from the function: repeated calls get suffixes
        step._airflow_settings = dict(self.airflow)
        step._location = caller_location()
        step._definition_location = (self.file, self.line)
        step._generated = (step.script_name, self.entry_script())
        step._code_problems = self.code_problems()
        if self.environment is not None:
            step.runconfig = self.environment
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return StepOutputs(step, outputs)

    def entry_script(self) -> str:
        """The function's source without its decorator, plus a command-line entry point;
        before it, the module's imports and the module-level functions, classes and literal
        constants of the same file that the function uses (see `code_problems`)."""
        return self._code()[0]

    def code_problems(self) -> list[tuple[str, tuple[str, int]]]:
        """What the step's code uses that cannot travel with it: (message, (file, line))."""
        return self._code()[1]

    def _code(self) -> tuple[str, list[tuple[str, tuple[str, int]]]]:
        if self._code_cache is None:
            self._code_cache = self._make_code()
        return self._code_cache

    def _make_code(self) -> tuple[str, list[tuple[str, tuple[str, int]]]]:
        source = textwrap.dedent(inspect.getsource(self.fn))
        tree = ast.parse(source)
        fn_node = tree.body[0]
        lines = source.splitlines()
        body = "\n".join(lines[fn_node.lineno - 1 :])
        module = _ModuleSource.of(self.fn, self.file)
        imports = module.imports()
        shipped, problems = module.closure(
            self.fn.__name__, body, self.line + fn_node.lineno - 1, self.step_name
        )
        parse_lines = []
        for pname, param in self.signature.parameters.items():
            hint = self.hints.get(pname, param.annotation)
            direction = _direction(hint)
            parser = "str" if direction else _SCALAR_PARSERS.get(hint, "str")
            parse_lines.append(f"    parser.add_argument({('--' + pname)!r}, type={parser})")
        header = (
            f"# Generated by amlcompile from {Path(self.file).name}:{self.line}"
            f" ({self.fn.__name__}). Do not edit.\n"
        )
        helpers = "".join("\n\n" + text + "\n" for text in shipped)
        script = (
            header
            # Annotations such as Input/Output must not be evaluated: amlcompile is not there.
            + "from __future__ import annotations\n\nimport argparse\n"
            + "".join(i + "\n" for i in imports)
            + "\n\n"
            "def _bool(text):\n"
            "    return text.strip().lower() in ('1', 'true', 'yes', 'on')\n"
            + helpers
            + "\n\n"
            + body
            + "\n\n\n"
            "if __name__ == '__main__':\n"
            "    parser = argparse.ArgumentParser()\n"
            + "\n".join(parse_lines)
            + ("\n" if parse_lines else "")
            + "    args = {k: v for k, v in vars(parser.parse_args()).items() if v is not None}\n"
            f"    {self.fn.__name__}(**args)\n"
        )
        return script, problems


def _is_amlcompile_import(node: ast.Import | ast.ImportFrom) -> bool:
    """`import amlcompile`, `from amlcompile(.x) import ...`: not installed where steps run
    (`amlcompile_run`, the step-side module, is)."""
    if isinstance(node, ast.ImportFrom):
        mod = node.module or ""
        return node.level == 0 and (mod == "amlcompile" or mod.startswith("amlcompile."))
    return any(a.name == "amlcompile" or a.name.startswith("amlcompile.") for a in node.names)


def _bound_by_import(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.asname or a.name.partition(".")[0] for a in node.names]
    return [a.asname or a.name for a in node.names if a.name != "*"]


def _global_reads(source: str, filename: str, defined: str) -> list[tuple[str, int]]:
    """The global names a module-level `def`/`class` (its source, starting at its first
    decorator or at `def`) reads when defined and when run: (name, line in `source`), in
    order of first use. Annotations are not evaluated (the step script says so)."""
    import symtable

    prefix = "from __future__ import annotations\n"
    top = symtable.symtable(prefix + source, filename, "exec")
    names: set[str] = set()
    for sym in top.get_symbols():  # defaults, decorators, base classes
        if sym.is_referenced() and sym.get_name() not in ("annotations", defined):
            names.add(sym.get_name())
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        stack += table.get_children()
        for sym in table.get_symbols():
            if sym.is_global() and sym.is_referenced():
                names.add(sym.get_name())
    first: dict[str, int] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id in names:
            first[node.id] = min(first.get(node.id, node.lineno), node.lineno)
    return sorted(((n, first.get(n, 1)) for n in names), key=lambda x: (x[1], x[0]))


_MODULE_DUNDERS = frozenset({"__file__", "__name__", "__doc__", "__spec__", "__builtins__"})


class _ModuleSource:
    """The file a @step function is defined in, read as source: what its code may take along."""

    def __init__(self, file: str, text: str, namespace: dict):
        self.file = file
        self.text = text
        self.namespace = namespace  # the module's globals, as the build ran it
        try:
            self.tree = ast.parse(text)
        except SyntaxError:  # a notebook, or a file changed since: only the checks apply
            self.tree = ast.Module(body=[], type_ignores=[])
        self.star_imports: list[ast.ImportFrom] = []
        self.bindings: dict[str, list[ast.stmt]] = {}  # name → the top-level statements binding it
        for node in self.tree.body:
            for name in dict.fromkeys(self._binds(node)):
                self.bindings.setdefault(name, []).append(node)

    @classmethod
    def of(cls, fn, file: str) -> _ModuleSource:
        import linecache

        # By file, not by module: a script run as __main__ is no longer sys.modules' __main__
        # when a @pipeline body calls its steps.
        text = "".join(linecache.getlines(file, fn.__globals__))
        return cls(file, text, fn.__globals__)

    def _binds(self, node: ast.stmt) -> list[str]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [node.name]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                self.star_imports.append(node)
            return _bound_by_import(node)
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:  # for, with, if, try, ...: every name they bind at module level
            return [
                n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))
            ] + [
                name
                for n in ast.walk(node)
                if isinstance(n, (ast.Import, ast.ImportFrom))
                for name in _bound_by_import(n)
            ]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]

    def imports(self) -> list[str]:
        """The module's top-level imports, as written (amlcompile's and __future__ left out)."""
        out = []
        for node in self.tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if _is_amlcompile_import(node) or getattr(node, "module", None) == "__future__":
                    continue
                out.append(ast.get_source_segment(self.text, node))
        return out

    def _segment(self, node: ast.stmt) -> str:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(self.text.splitlines()[start - 1 : node.end_lineno])

    @staticmethod
    def _literal(node: ast.stmt) -> bool:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            return False
        try:
            ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        return True

    def closure(self, name: str, body: str, line: int, step_name: str):
        """The top-level definitions `body` (function `name`, whose `def` is at `line`)
        needs, in file order, and the problems: names that cannot travel with the step."""
        import builtins

        shipped: dict[int, str] = {}  # statement line → source
        problems: list[tuple[str, tuple[str, int]]] = []
        queue = [(name, body, line)]
        seen = {name}
        while queue:
            defined, source, at = queue.pop(0)
            for free, offset in _global_reads(source, self.file, defined):
                if free in seen or free in _MODULE_DUNDERS:
                    continue
                if free not in self.bindings and hasattr(builtins, free):
                    continue  # a builtin the file does not redefine
                seen.add(free)
                why = self._resolve(free, shipped, queue, step_name)
                if why:
                    problems.append((why, (self.file, at + offset - 1)))
        return [shipped[k] for k in sorted(shipped)], problems

    def _resolve(self, free: str, shipped: dict, queue: list, step_name: str) -> str | None:
        """Ship what `free` names, or say why it cannot travel (None: fine)."""
        what = f"@step {step_name!r} uses {free!r}"
        nodes = self.bindings.get(free, [])
        imports = [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
        if nodes and len(imports) == len(nodes):
            if any(_is_amlcompile_import(n) for n in imports):
                return (
                    f"{what}, imported from amlcompile, which is not installed where steps"
                    " run (a step gets plain paths and values; Run is in amlcompile_run)"
                )
            return None  # the module's imports travel with every step
        if len(nodes) == 1:
            node = nodes[0]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if isinstance(self.namespace.get(free), (StepDefinition, PipelineDefinition)):
                    return (
                        f"{what}, a @step or @pipeline function; inside a step, call a plain"
                        " function (move the shared code into a helper both use)"
                    )
                source = self._segment(node)
                shipped[node.lineno] = source
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                queue.append((free, source, start))
                return None
            if self._literal(node):
                shipped[node.lineno] = self._segment(node)
                return None
            return (
                f"{what}, a module-level value (line {node.lineno}) that is not a literal;"
                " only this file's imports, functions, classes and literal constants travel"
                " with a step: pass it as a parameter or compute it inside the function"
            )
        if len(nodes) > 1:
            lines = ", ".join(str(n.lineno) for n in nodes)
            return (
                f"{what}, which this file sets more than once (lines {lines}); only a name set"
                " once (a function, class or literal constant) travels with a step"
            )
        if free in self.namespace and self.star_imports:
            if all(_is_amlcompile_import(n) for n in self.star_imports):
                return (
                    f"{what}, from `from amlcompile import *`; amlcompile is not installed"
                    " where steps run"
                )
            return None  # from a star import, which travels with the step
        if free in self.namespace:
            return (
                f"{what}, which this file does not define at top level; import it or define"
                " it inside the function"
            )
        import builtins

        hint = did_you_mean(free, [*self.bindings, *vars(builtins)])
        return f"{what}, which is not defined{hint}"


def step(
    fn=None,
    *,
    compute=None,
    source_directory=None,
    allow_reuse=True,
    environment=None,
    name=None,
    owner=None,
    retries=None,
    retry_delay=None,
    execution_timeout=None,
):
    """Turn a plain function into a reusable step definition.

    owner, retries, retry_delay and execution_timeout (seconds, or text like "5m", "2h")
    are the Airflow task's own, over the `[dag]` defaults of amlcompile.toml.
    """
    airflow = {
        k: v
        for k, v in {
            "owner": owner,
            "retries": retries,
            "retry_delay": retry_delay,
            "execution_timeout": execution_timeout,
        }.items()
        if v is not None
    }

    def wrap(f):
        return StepDefinition(f, compute, source_directory, allow_reuse, environment, name, airflow)

    return wrap(fn) if fn is not None else wrap


_PARAM_TYPES = (bool, int, float, str)


class PipelineDefinition:
    def __init__(
        self,
        fn,
        name=None,
        description=None,
        default_datastore=None,
        default_compute=None,
        schedule=None,
        tags=None,
        continue_on_step_failure=False,
    ):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description if description is not None else inspect.getdoc(fn)
        self.default_datastore = default_datastore
        self.default_compute = default_compute
        self.schedule = schedule
        self.tags = tags or {}
        if not isinstance(continue_on_step_failure, bool):
            raise UserErrorException(
                f"@pipeline {self.name!r}: continue_on_step_failure must be True or False,"
                f" not {continue_on_step_failure!r}"
            )
        self.continue_on_step_failure = continue_on_step_failure
        self.file = inspect.getsourcefile(fn)
        self.line = inspect.getsourcelines(fn)[1]

    def build(self, workspace=None, **overrides) -> Pipeline:
        """Run the body with parameter placeholders and capture the steps it creates."""
        from .workspace import Workspace

        problems = []
        params = []
        sig = inspect.signature(self.fn)
        for pname, p in sig.parameters.items():
            default = overrides.get(pname, p.default)
            if default is inspect.Parameter.empty:
                problems.append(
                    Problem(
                        f"pipeline {self.name!r}: parameter {pname!r} needs a default value"
                        " (pipeline parameters are triggered with defaults)",
                        _loc(self.file, self.line),
                    )
                )
                default = ""
            placeholder = PipelineParameter(pname, default)
            placeholder._location = (self.file, self.line)
            params.append(placeholder)
        if problems:
            raise BuildError(problems)
        if workspace is None:
            from .. import config as config_mod

            workspace = Workspace(_config=config_mod.load(Path(self.file).parent))
        with session.capturing_steps() as steps:
            self.fn(*params)
        pipe = Pipeline(
            workspace,
            steps=list(steps),
            description=self.description,
            default_datastore=self.default_datastore,
            name=self.name,
            tags=self.tags,
            _parameters=params,
        )
        pipe.default_compute = self.default_compute
        pipe._location = (self.file, self.line)
        pipe._schedule = self.schedule
        if self.continue_on_step_failure:
            pipe._continue_on_step_failure = (True, (self.file, self.line))
        return pipe

    def __call__(self, *args, **kwargs):
        if session._capture_stack:
            raise UserErrorException("calling a @pipeline inside another is not supported yet")
        return self.build(
            **dict(zip(inspect.signature(self.fn).parameters, args, strict=False)), **kwargs
        )


def _loc(file, line):
    from ..ir.models import SourceLocation

    return SourceLocation(file=str(file), line=int(line))


def pipeline(
    fn=None,
    *,
    name=None,
    description=None,
    default_datastore=None,
    default_compute=None,
    schedule=None,
    tags=None,
    continue_on_step_failure=False,
):
    """A function whose parameters are pipeline parameters and whose body creates steps.

    continue_on_step_failure=True lets steps that do not depend on a failed step run on (in
    Azure ML a submit/publish argument; here a setting of the DAG).
    """

    def wrap(f):
        return PipelineDefinition(
            f,
            name,
            description,
            default_datastore,
            default_compute,
            schedule,
            tags,
            continue_on_step_failure,
        )

    return wrap(fn) if fn is not None else wrap
