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
        if self.environment is not None:
            step.runconfig = self.environment
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return StepOutputs(step, outputs)

    def entry_script(self) -> str:
        """The function's source without its decorator, plus a command-line entry point."""
        source = textwrap.dedent(inspect.getsource(self.fn))
        tree = ast.parse(source)
        fn_node = tree.body[0]
        lines = source.splitlines()
        body = "\n".join(lines[fn_node.lineno - 1 :])
        imports = _module_imports(self.fn)
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
        return (
            header
            # Annotations such as Input/Output must not be evaluated: amlcompile is not there.
            + "from __future__ import annotations\n\nimport argparse\n"
            + "".join(i + "\n" for i in imports)
            + "\n\n"
            "def _bool(text):\n"
            "    return text.strip().lower() in ('1', 'true', 'yes', 'on')\n\n\n" + body + "\n\n\n"
            "if __name__ == '__main__':\n"
            "    parser = argparse.ArgumentParser()\n"
            + "\n".join(parse_lines)
            + ("\n" if parse_lines else "")
            + "    args = {k: v for k, v in vars(parser.parse_args()).items() if v is not None}\n"
            f"    {self.fn.__name__}(**args)\n"
        )


def _module_imports(fn) -> list[str]:
    module = inspect.getmodule(fn)
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return []
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            mod = getattr(node, "module", None) or ""
            if mod.startswith("amlcompile") or any(n.startswith("amlcompile") for n in names):
                continue
            if mod == "__future__":
                continue
            out.append(ast.get_source_segment(source, node))
    return out


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
