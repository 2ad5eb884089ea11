"""SDK v1 argument coverage: every reference signature is accepted with the same names, order
and defaults; Azure-only arguments warn once; behaviour-changing ones are never dropped silently.

The reference (tests/sdk_reference/signatures.json) is written by tools/sdk_signatures.py from
the PyPI packages; the classification (arguments.json) is ours. No Azure package is needed here.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
import warnings
from pathlib import Path

import pytest

import amlcompile
from amlcompile.dsl import warnings as warn_mod

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "sdk_reference"
REFERENCE = json.loads((REFERENCE_DIR / "signatures.json").read_text())["signatures"]
CLASSIFICATION = json.loads((REFERENCE_DIR / "arguments.json").read_text())["signatures"]
KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}
OURS = sorted(CLASSIFICATION)


def resolve(key: str):
    """'Dataset.File.from_files' → (owner object, attribute name, function) in amlcompile."""
    *owner_path, attr = key.split(".")
    owner = amlcompile
    for part in owner_path:
        owner = getattr(owner, part, None)
        if owner is None:
            return None, attr, None
    return owner, attr, getattr(owner, attr, None)


def binding(owner, attr) -> str:
    raw = inspect.getattr_static(owner, attr)
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if isinstance(raw, classmethod):
        return "classmethod"
    return "method"


def gaps_of(key: str) -> list[str]:
    ref = REFERENCE[key]
    owner, attr, func = resolve(key)
    if func is None:
        return [f"{key}: missing in amlcompile"]
    gaps = []
    if binding(owner, attr) != ref["binding"]:
        gaps.append(f"{key}: is a {binding(owner, attr)}, the SDK's is a {ref['binding']}")
    ours = list(inspect.signature(func).parameters.values())
    overrides = CLASSIFICATION[key].get("defaults", {})
    for i, expected in enumerate(ref["parameters"]):
        if i >= len(ours):
            gaps.append(f"{key}: argument {expected['name']!r} missing (position {i})")
            continue
        got = ours[i]
        if got.name != expected["name"]:
            gaps.append(f"{key}: position {i} is {got.name!r}, the SDK's is {expected['name']!r}")
            continue
        if KINDS[got.kind] != expected["kind"]:
            gaps.append(
                f"{key}: {got.name!r} is {KINDS[got.kind]}, the SDK's is {expected['kind']}"
            )
        want = overrides.get(got.name, {}).get("amlcompile", expected.get("default"))
        have = None if got.default is inspect.Parameter.empty else repr(got.default)
        if have != want:
            gaps.append(f"{key}: {got.name!r} defaults to {have}, the SDK's to {want}")
    # Extensions are allowed only after the SDK's arguments and only as keywords.
    for extra in ours[len(ref["parameters"]) :]:
        if extra.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
            gaps.append(f"{key}: extra positional argument {extra.name!r}")
    return gaps


def test_reference_and_classification_agree():
    problems = []
    for key, ref in REFERENCE.items():
        names = [p["name"] for p in ref["parameters"] if p["name"] != "self"]
        classified = CLASSIFICATION.get(key, {}).get("arguments", {})
        if list(classified) != names:
            problems.append(f"{key}: classified {list(classified)}, reference {names}")
        bad = {v for v in classified.values()} - {"honoured", "azure_only", "unsupported"}
        if bad:
            problems.append(f"{key}: unknown classes {bad}")
    assert set(CLASSIFICATION) == set(REFERENCE)
    assert not problems, "\n".join(problems)


def test_signatures_implemented_here_match_the_sdk():
    gaps = []
    for key in OURS:
        if CLASSIFICATION[key].get("optional") and resolve(key)[2] is None:
            continue
        gaps += gaps_of(key)
    assert not gaps, f"{len(gaps)} gaps:\n" + "\n".join(gaps)


def reads_of(func) -> set[str]:
    """Names the function body reads (its parameters that are actually used)."""
    func = inspect.unwrap(func)
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    nodes = [n for stmt in tree.body[0].body for n in ast.walk(stmt)]
    names = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    # non_default(func, locals(), "a", "b") reads its arguments by name.
    for call in nodes:
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "non_default":
            names |= {a.value for a in call.args if isinstance(a, ast.Constant)}
    return names


def test_no_argument_is_dropped_silently():
    """An honoured argument is used by the body; an ignored one is passed to a warning."""
    dropped = []
    for key in OURS:
        _owner, _attr, func = resolve(key)
        if func is None:
            continue  # reported by the signature test
        used = reads_of(func)
        for name, how in CLASSIFICATION[key]["arguments"].items():
            if name not in used:
                dropped.append(f"{key}: {name!r} ({how}) is never read")
    assert not dropped, "\n".join(dropped)


# ---- Azure-only and unsupported arguments warn once per process ----


# How to call each row with its required arguments; `kw` is the argument under test.
CALLS = {
    "Pipeline.__init__": lambda ws, kw: amlcompile.Pipeline(ws, steps=[], **kw),
    "PipelineData.__init__": lambda ws, kw: amlcompile.PipelineData("d", **kw),
    "DataReference.__init__": lambda ws, kw: amlcompile.DataReference(
        ws.get_default_datastore(), **kw
    ),
    "DataPathComputeBinding.__init__": lambda ws, kw: amlcompile.DataPathComputeBinding(**kw),
    "PythonScriptStep.__init__": lambda ws, kw: amlcompile.PythonScriptStep("a.py", **kw),
    "CommandStep.__init__": lambda ws, kw: amlcompile.CommandStep("echo hi", **kw),
    "Pipeline.publish": lambda ws, kw: _in_build(
        lambda: amlcompile.Pipeline(ws, steps=[]).publish("p", **kw)
    ),
    "Pipeline.submit": lambda ws, kw: _in_build(
        lambda: amlcompile.Pipeline(ws, steps=[]).submit("e", **kw)
    ),
    "Experiment.submit": lambda ws, kw: _in_build(
        lambda: amlcompile.Experiment(ws, "e").submit(amlcompile.Pipeline(ws, steps=[]), **kw)
    ),
    "AmlCompute.provisioning_configuration": lambda ws, kw: (
        amlcompile.AmlCompute.provisioning_configuration(**kw)
    ),
    "Datastore.register_azure_blob_container": lambda ws, kw: (
        amlcompile.Datastore.register_azure_blob_container(ws, "blob", "container", "acct", **kw)
    ),
    "Datastore.register_azure_file_share": lambda ws, kw: (
        amlcompile.Datastore.register_azure_file_share(ws, "share", "files", "acct", **kw)
    ),
    "Datastore.register_azure_data_lake_gen2": lambda ws, kw: (
        amlcompile.Datastore.register_azure_data_lake_gen2(ws, "lake", "fs", "acct", **kw)
    ),
    "Dataset.File.from_files": lambda ws, kw: amlcompile.Dataset.File.from_files(
        (ws.get_default_datastore(), "in/x"), **kw
    ),
    "OutputFileDatasetConfig.__init__": lambda ws, kw: amlcompile.OutputFileDatasetConfig(
        "out", **kw
    ),
    "RunConfiguration.__init__": lambda ws, kw: amlcompile.RunConfiguration(**kw),
    "ScriptRunConfig.__init__": lambda ws, kw: amlcompile.ScriptRunConfig("src", "a.py", **kw),
    "Environment.__init__": lambda ws, kw: amlcompile.Environment("env", **kw),
    "CondaDependencies.create": lambda ws, kw: amlcompile.CondaDependencies.create(**kw),
    "HyperDriveConfig.__init__": lambda ws, kw: amlcompile.HyperDriveConfig(
        amlcompile.GridParameterSampling({}), "acc", "MAXIMIZE", 1, **kw
    ),
    "GridParameterSampling.__init__": lambda ws, kw: amlcompile.GridParameterSampling({}, **kw),
    "TrainingOutput.__init__": lambda ws, kw: amlcompile.TrainingOutput("Metrics", **kw),
    "ParallelRunConfig.__init__": lambda ws, kw: amlcompile.ParallelRunConfig(
        None, "score.py", -1, "append_row", "local", 1, **kw
    ),
}
# A value that means something for arguments where a plain string does not fit.
SAMPLES = {
    "is_file": True,
    "validate": False,
    "overwrite": True,
    "output_overwrite": True,
    "training_output": object(),
    "pin_sdk_version": False,
    "enable_node_public_ip": False,
    "grant_workspace_access": True,
    "create_if_not_exists": True,
    "skip_validation": True,
    "continue_on_step_failure": True,
    "credential_passthrough": True,
    "idle_seconds_before_scaledown": 60,
    "blob_cache_timeout": 60,
    "runconfig_pipeline_params": {"x": 1},
    "tags": {"k": "v"},
    "vm_priority": "lowpriority",
}


def _in_build(call):
    from amlcompile.dsl import session

    with session.build_session():
        return call()


def _ignored(key: str, required: bool):
    """Ignored arguments of a row: optional ones, or required ones (always given)."""
    for p in REFERENCE[key]["parameters"]:
        how = CLASSIFICATION[key]["arguments"].get(p["name"], "honoured")
        if how != "honoured" and p["kind"] != "var_keyword" and ("default" not in p) == required:
            yield p["name"], how


def _ignored_cases():
    for key in sorted(CALLS):
        for name, how in _ignored(key, required=False):
            yield key, name, how


def _datastores_for_registration(project):
    project.write(
        "amlcompile.toml",
        """\
        [datastores.blob]
        kind = "azure_blob"
        path = "container"
        conn_id = "wasb_default"
        [datastores.share]
        kind = "azure_file"
        path = "files"
        conn_id = "azure_fileshare_default"
        [datastores.lake]
        kind = "adls_gen2"
        path = "fs"
        conn_id = "adls_default"
        """,
    )


@pytest.mark.parametrize(("key", "name", "how"), list(_ignored_cases()))
def test_ignored_argument_warns_once(project, monkeypatch, key, name, how):
    _datastores_for_registration(project)
    ws = amlcompile.Workspace.from_config(project.root)
    monkeypatch.setattr(warn_mod, "_seen", set())
    category = (
        warn_mod.AzureOnlyArgumentWarning
        if how == "azure_only"
        else warn_mod.UnsupportedArgumentWarning
    )
    value = SAMPLES.get(name, "set")
    for attempt in (1, 2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            CALLS[key](ws, {name: value})
        mine = [
            w
            for w in caught
            if issubclass(w.category, warn_mod.IgnoredArgumentWarning)
            and f"argument {name!r}" in str(w.message)
        ]
        if attempt == 1:
            assert len(mine) == 1, [str(w.message) for w in caught]
            assert mine[0].category is category
            assert repr(name) in str(mine[0].message)
            assert mine[0].filename == __file__  # points at the caller, not at amlcompile
        else:
            assert mine == [], "warned twice"


@pytest.mark.parametrize("key", sorted(CALLS))
def test_defaults_do_not_warn(monkeypatch, project, key):
    _datastores_for_registration(project)
    ws = amlcompile.Workspace.from_config(project.root)
    monkeypatch.setattr(warn_mod, "_seen", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CALLS[key](ws, {})
    got = sorted(
        str(w.message) for w in caught if issubclass(w.category, warn_mod.IgnoredArgumentWarning)
    )
    # Required Azure-only arguments (a storage account name) are always given: one warning.
    owner = key.removesuffix(".__init__")
    assert got == sorted(
        f"{owner}: argument {name!r} only has a meaning on Azure and is ignored"
        for name, _how in _ignored(key, required=True)
    )


def test_coverage_doc_is_generated_from_the_reference():
    import importlib.util

    tool = REFERENCE_DIR.parents[1] / "tools" / "sdk_coverage_doc.py"
    spec = importlib.util.spec_from_file_location("sdk_coverage_doc", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python tools/sdk_coverage_doc.py"


def test_experiment_submit_warns_for_what_pipeline_submit_would(project, monkeypatch):
    ws = amlcompile.Workspace.from_config(project.root)
    monkeypatch.setattr(warn_mod, "_seen", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _in_build(
            lambda: amlcompile.Experiment(ws, "e").submit(
                amlcompile.Pipeline(ws, steps=[]),
                pipeline_parameters={"a": 1},
                continue_on_step_failure=True,
                parent_run_id="r1",
            )
        )
    got = sorted((w.category.__name__, str(w.message)) for w in caught)
    # continue_on_step_failure is honoured (the DAG's failure mode): no warning for it.
    assert got == [
        (
            "AzureOnlyArgumentWarning",
            "Experiment.submit: argument 'parent_run_id' only has a meaning on Azure and is"
            " ignored",
        ),
    ]
