"""The libcst rewrite of one Python source: `azureml.*` imports → amlcompile, the few call
shapes that differ, and a list of what could not be translated. Untouched code keeps its exact
text (libcst round-trips formatting and comments), and the rewrite of a rewritten source is
the same source (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .names import ADVICE, AMLCOMPILE, ATTRIBUTE_ADVICE, STEP_RUN, Target, target_for


@dataclass(frozen=True)
class Note:
    line: int
    text: str
    # A problem note that, left as it is, fails the build or the step (most do); False for
    # advice such as `import *`, which builds as it is.
    blocking: bool = True


@dataclass
class Outcome:
    source: str
    changes: list[Note] = field(default_factory=list)
    problems: list[Note] = field(default_factory=list)  # not translated: line, what to do

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass
class Carry:
    """What one source tells the next: notebook cells share their names."""

    auth_names: set[str] = field(default_factory=set)
    widget_names: set[str] = field(default_factory=set)


class MigrateSyntaxError(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def migrate_source(source: str, exported: frozenset[str], carry: Carry | None = None) -> Outcome:
    """`carry` (notebooks): names imported by earlier cells; without it, a source that never
    mentions azureml is returned as it is without being transformed."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise MigrateSyntaxError(exc.raw_line, exc.raw_column, exc.message) from None
    if carry is None:
        if "azureml" not in source and "Run.get_context" not in source:
            return Outcome(source)
        carry = Carry()
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    usage = _AzuremlUsage()
    wrapper.visit(usage)
    rewriter = _Rewriter(exported, usage, carry)
    new = wrapper.visit(rewriter)
    changes = sorted(set(rewriter.changes), key=lambda n: (n.line, n.text))
    problems = sorted(set(rewriter.problems), key=lambda n: (n.line, n.text))
    script_names = rewriter.amlcompile_names_in_script
    if usage.calls_get_context and script_names:
        names = ", ".join(name for _, name in script_names)
        problems.append(
            Note(
                script_names[0][0],
                f"step script (it calls Run.get_context()) imports {names} from amlcompile,"
                " which is not installed where steps run: keep the script to amlcompile_run",
            )
        )
    return Outcome(new.code, changes, problems)


def dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head is not None else None
    return None


def _module_expr(name: str) -> cst.Attribute | cst.Name:
    expr = cst.parse_expression(name)
    assert isinstance(expr, (cst.Attribute, cst.Name))
    return expr


def _is_module_path(name: str) -> bool:
    return all(part.islower() or part == "_" for part in name.split(".") if part)


def _split_member(name: str) -> tuple[str, str] | None:
    """`azureml.core.Workspace` → (`azureml.core`, `Workspace`); None for other names."""
    module, _, member = name.rpartition(".")
    if not module.startswith("azureml") or not _is_module_path(module):
        return None
    if member == "VERSION" or member[:1].isupper():
        return module, member
    return None


class _AzuremlUsage(cst.CSTVisitor):
    """First pass: which members plain `import azureml...` forms reach, and through which alias."""

    def __init__(self):
        self.members: set[str] = set()  # reached through `azureml.x.y.Member`
        self.alias_members: dict[str, set[str]] = {}  # `import azureml.core as aml`: aml → {…}
        self.aliases: set[str] = set()
        self.calls_get_context = False  # a step script

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = _name_of(alias.name)
            if name.startswith("azureml") and alias.asname is not None:
                local = _name_of(alias.asname.name)
                self.aliases.add(local)
                self.alias_members.setdefault(local, set())

    def visit_Call(self, node: cst.Call) -> None:
        if (dotted(node.func) or "").endswith("Run.get_context"):
            self.calls_get_context = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        name = dotted(node)
        if name is None:
            return
        split = _split_member(name)
        if split is not None:
            self.members.add(split[1])
            return
        head, _, member = name.partition(".")
        if head in self.alias_members and member and "." not in member:
            self.alias_members[head].add(member)


def _name_of(node: cst.BaseExpression) -> str:
    text = dotted(node)
    return text or ""


class _Rewriter(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, exported: frozenset[str], usage: _AzuremlUsage, carry: Carry):
        self.exported = exported
        self.usage = usage
        self.changes: list[Note] = []
        self.problems: list[Note] = []
        self.auth_names = carry.auth_names  # shared with later notebook cells
        self.widget_names = carry.widget_names
        self.plain_import_done = False
        self._widget_calls: set[int] = set()  # RunDetails(x) calls inside RunDetails(x).show()
        self.amlcompile_names_in_script: list[tuple[int, str]] = []

    # ---- helpers ----
    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    def _target(self, name: str) -> Target:
        return target_for(name, self.exported)

    def _modules_for_members(self, members: set[str]) -> list[str]:
        modules = {self._target(m).module for m in members}
        modules.discard(None)
        ordered = [m for m in (AMLCOMPILE, "amlcompile.exceptions", STEP_RUN) if m in modules]
        return ordered or [AMLCOMPILE]

    # ---- `from azureml.x import A, B as C` ----
    def leave_SimpleStatementLine(self, original, updated):
        lines: list[list[cst.BaseSmallStatement]] = []
        rewritten = False
        for original_small, small in zip(original.body, updated.body, strict=True):
            if isinstance(small, cst.ImportFrom) and self._is_azureml(small):
                parts = self._rewrite_from(original_small, small)
                rewritten = rewritten or parts != [small]
                lines.extend([p] for p in parts)
            elif isinstance(small, cst.Import):
                parts = self._rewrite_import(original_small, small)
                rewritten = rewritten or parts != [small]
                if parts:
                    lines.append(parts)
            else:
                lines.append([small])
        if not rewritten:
            return updated
        if not lines:
            return cst.RemoveFromParent()
        if len(lines) == 1 or len(updated.body) > 1:
            body = [s for line in lines for s in line]
            return updated.with_changes(body=_fix_semicolons(body))
        out = []
        for i, body in enumerate(lines):
            line = updated.with_changes(body=_fix_semicolons(body))
            if i > 0:
                line = line.with_changes(leading_lines=[])
            out.append(line)
        return cst.FlattenSentinel(out)

    @staticmethod
    def _is_azureml(node: cst.ImportFrom) -> bool:
        if node.relative or node.module is None:
            return False
        return (_name_of(node.module) + ".").startswith("azureml.")

    def _rewrite_from(self, original: cst.ImportFrom, node: cst.ImportFrom) -> list:
        line = self._line(original)
        module = _name_of(node.module)
        if isinstance(node.names, cst.ImportStar):
            self.changes.append(Note(line, f"from {module} import * → from amlcompile import *"))
            self.problems.append(
                Note(
                    line,
                    "import *: names amlcompile lacks are not reported; import them by name",
                    blocking=False,
                )
            )
            return [node.with_changes(module=_module_expr(AMLCOMPILE))]
        groups: dict[str | None, list[cst.ImportAlias]] = {}
        for alias in node.names:
            name = _name_of(alias.name)
            target = self._target(name)
            local = _name_of(alias.asname.name) if alias.asname else name
            if target.kind == "auth":
                self.auth_names.add(local)
                self.changes.append(
                    Note(line, f"{name}: import removed (credentials are Airflow connections)")
                )
                continue
            if target.kind == "widget":
                self.widget_names.add(local)
                self.changes.append(Note(line, f"{name}: import removed (Airflow's UI shows runs)"))
                continue
            if target.module is None:
                # A feature with no equivalent (names.ADVICE) fails the build or a step; any
                # other name left imports at build time (a placeholder) and fails only where
                # a pipeline uses it, reported there by build.
                self.problems.append(
                    Note(line, f"{name} ({module}): {target.advice}", blocking=name in ADVICE)
                )
                groups.setdefault(None, []).append(alias)
                continue
            if target.kind == "version":
                alias = cst.ImportAlias(
                    name=cst.Name("__version__"), asname=cst.AsName(name=cst.Name(local))
                )
            elif target.name != name:
                alias = alias.with_changes(name=cst.Name(target.name))
            if target.module == AMLCOMPILE:
                self.amlcompile_names_in_script.append((line, name))
            groups.setdefault(target.module, []).append(alias)
            shown = f"{name} as {local}" if local != name else name
            self.changes.append(Note(line, f"{shown}: {module} → {target.module}"))
        translated = [m for m in groups if m is not None]
        if not translated and None in groups and len(groups[None]) == len(node.names):
            return [node]  # nothing amlcompile provides: left as it is
        if len(groups) == 1 and len(groups[next(iter(groups))]) == len(node.names):
            (only,) = groups
            return [node.with_changes(module=_module_expr(only), names=groups[only])]
        out = []
        for target_module, aliases in groups.items():
            module_expr = _module_expr(target_module) if target_module else node.module
            names = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in aliases]
            out.append(
                cst.ImportFrom(module=module_expr, names=names, relative=[], lpar=None, rpar=None)
            )
        return out

    # ---- `import azureml.core [as aml]` ----
    def _rewrite_import(self, original: cst.Import, node: cst.Import) -> list:
        line = self._line(original)
        names = []
        changed = False
        for alias in node.names:
            full = _name_of(alias.name)
            if not (full + ".").startswith("azureml."):
                names.append(alias)
                continue
            changed = True
            if alias.asname is not None:
                local = _name_of(alias.asname.name)
                modules = self._modules_for_members(self.usage.alias_members.get(local, set()))
                if len(modules) > 1:
                    self.problems.append(
                        Note(
                            line,
                            f"import {full} as {local}: mixes Run with other names; import"
                            " Run with `from amlcompile_run import Run`",
                        )
                    )
                names.append(alias.with_changes(name=_module_expr(modules[0])))
                self.changes.append(Note(line, f"import {full} as {local} → {modules[0]}"))
                continue
            # Plain form: every `azureml.<module>.Member` below is rewritten to its target module.
            if not self.usage.members and self.usage.calls_get_context:
                # Unused in a step script, where `import amlcompile` would fail.
                self.changes.append(Note(line, f"import {full}: removed (unused in a step script)"))
                continue
            if self.plain_import_done:
                self.changes.append(Note(line, f"import {full}: merged into the import above"))
                continue
            self.plain_import_done = True
            for module in self._modules_for_members(self.usage.members):
                names.append(cst.ImportAlias(name=_module_expr(module)))
                self.changes.append(Note(line, f"import {full} → import {module}"))
        if not changed:
            return [node]
        if not names:
            return []
        names = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in names]
        return [node.with_changes(names=names)]

    # ---- attribute forms and reported uses ----
    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute):
        name = dotted(original)
        if name is None:  # `run.input_datasets["t"].to_pandas_dataframe`: the attribute alone
            for suffix, advice in ATTRIBUTE_ADVICE:
                if suffix == f".{original.attr.value}":
                    self.problems.append(Note(self._line(original), f"{suffix[1:]}: {advice}"))
            return updated
        split = _split_member(name)
        if split is not None:  # `azureml.core.Workspace`, reached through `import azureml.core`
            member = split[1]
            target = self._target(member)
            line = self._line(original)
            if target.module is None:
                self.problems.append(Note(line, f"{name}: {target.advice}"))
                return updated
            self.changes.append(Note(line, f"{name} → {target.module}.{target.name}"))
            return cst.Attribute(value=_module_expr(target.module), attr=cst.Name(target.name))
        head, _, member = name.partition(".")
        if head in self.usage.aliases and member and "." not in member:
            target = self._target(member)
            line = self._line(original)
            if target.module is None:
                self.problems.append(Note(line, f"{name}: {target.advice}"))
            elif target.kind == "version":
                self.changes.append(Note(line, f"{name} → {head}.__version__"))
                return updated.with_changes(attr=cst.Name("__version__"))
        for suffix, advice in ATTRIBUTE_ADVICE:
            if name.endswith(suffix) and (suffix.startswith(".") or name == suffix):
                self.problems.append(Note(self._line(original), f"{name}: {advice}"))
        return updated

    def leave_IndentedBlock(self, original, updated):
        # A block whose only statement was a removed import keeps a `pass`.
        if not updated.body:
            return updated.with_changes(body=[cst.SimpleStatementLine(body=[cst.Pass()])])
        return updated

    def visit_Call(self, node: cst.Call) -> None:
        if _widget_show(node, self.widget_names) is not None:
            self._widget_calls.add(id(node.func.value))

    def leave_Call(self, original: cst.Call, updated: cst.Call):
        func = dotted(original.func)
        if isinstance(original.func, cst.Name) and original.func.value in self.auth_names:
            self.changes.append(
                Note(self._line(original), f"{func}(...) → None (amlcompile signs in nowhere)")
            )
            return cst.Name("None")
        widget = _widget_show(original, self.widget_names)
        if widget is not None:
            self.changes.append(
                Note(self._line(original), "RunDetails(run).show() → run.wait_for_completion()")
            )
            return cst.Call(
                func=cst.Attribute(value=widget, attr=cst.Name("wait_for_completion")),
                args=[
                    cst.Arg(
                        keyword=cst.Name("show_output"),
                        value=cst.Name("True"),
                        equal=cst.AssignEqual(
                            whitespace_before=cst.SimpleWhitespace(""),
                            whitespace_after=cst.SimpleWhitespace(""),
                        ),
                    )
                ],
            )
        if (
            isinstance(original.func, cst.Name)
            and original.func.value in self.widget_names
            and id(original) not in self._widget_calls
        ):
            self.problems.append(
                Note(
                    self._line(original),
                    "RunDetails: use run.wait_for_completion(show_output=True)",
                )
            )
        return updated


def _widget_show(call: cst.Call, widget_names: set[str]) -> cst.BaseExpression | None:
    """`RunDetails(x).show()` → x."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "show" and not call.args):
        return None
    inner = func.value
    if (
        isinstance(inner, cst.Call)
        and isinstance(inner.func, cst.Name)
        and inner.func.value in widget_names
        and len(inner.args) == 1
    ):
        return inner.args[0].value
    return None


def _fix_semicolons(body: list) -> list:
    """Statements joined on one line keep `;` between them, none after the last."""
    out = []
    for i, small in enumerate(body):
        last = i == len(body) - 1
        semicolon = small.semicolon
        if last:
            semicolon = cst.MaybeSentinel.DEFAULT
        elif isinstance(semicolon, cst.MaybeSentinel):
            semicolon = cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))
        out.append(small.with_changes(semicolon=semicolon))
    return out
