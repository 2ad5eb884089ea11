"""Unmodified SDK v1 code builds: `azureml.*` resolves to amlcompile during a build only."""

from __future__ import annotations

import sys
import warnings

import pytest

from amlcompile.compiler import check
from amlcompile.exceptions import BuildError
from amlcompile.sdk_compat import hook


def test_sdk_names_resolve_to_amlcompile_inside_the_hook_only():
    import amlcompile
    from amlcompile.exceptions import ComputeTargetException

    with hook.installed():
        from azureml.core import Workspace
        from azureml.core.compute_target import ComputeTargetException as sdk_exc
        from azureml.core.runconfig import DEFAULT_CPU_IMAGE
        from azureml.pipeline.steps import PythonScriptStep

        assert Workspace is amlcompile.Workspace
        assert PythonScriptStep is amlcompile.PythonScriptStep
        assert sdk_exc is ComputeTargetException
        assert DEFAULT_CPU_IMAGE.startswith("mcr.microsoft.com/azureml/")
    assert not any(m == "azureml" or m.startswith("azureml.") for m in sys.modules)


def _project(tmp_path, body: str):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print('a')\n")
    pkg = tmp_path / "helpers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "compute.py").write_text(
        "from azureml.core.compute import AmlCompute, ComputeTarget\n"
        "from azureml.core.compute_target import ComputeTargetException\n"
        "def get(ws, name):\n"
        "    try:\n"
        "        return AmlCompute(ws, name)\n"
        "    except ComputeTargetException:\n"
        "        cfg = AmlCompute.provisioning_configuration(vm_size='STANDARD_NC6', max_nodes=2)\n"
        "        return ComputeTarget.create(ws, name, cfg)\n"
    )
    script = tmp_path / "pipelines" / "build.py"
    script.parent.mkdir()
    script.write_text(body)
    return script


MAIN = """\
from azureml.core import Workspace
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep
from helpers.compute import get

def main():
    ws = Workspace.from_config()
    print(ws.name + ws.location + ws.subscription_id + ws.resource_group)
    gpu = get(ws, "gpu")
    step = PythonScriptStep(name="train", script_name="a.py", source_directory="../src",
                            compute_target=gpu)
    p = Pipeline(ws, steps=[step])
    published = p.publish(name="train_gpu", version="3")
    assert published.version == "3" and published.endpoint.startswith("http")
    run = p.submit("exp")
    assert [s.name for s in run.get_steps()] == ["train"]
    assert run.wait_for_completion() == "NotStarted"

if __name__ == "__main__":
    main()
"""


def test_main_guarded_script_with_project_packages_and_get_or_create(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [compiled] = check([_project(tmp_path, MAIN)])
    assert compiled.pipeline.name == "train_gpu"
    [target] = compiled.pipeline.computes
    assert target.kind == "amlcompute" and target.vm_size == "STANDARD_NC6"  # create branch ran


def test_unavailable_name_imports_and_fails_where_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = (
        "from azureml.core import Workspace\n"
        "from azureml.pipeline.core import Pipeline\n"
        "from azureml.pipeline.steps import AutoMLStep, PythonScriptStep\n"
        "ws = Workspace.from_config()\n"
        "a = PythonScriptStep(name='a', script_name='a.py', source_directory='../src')\n"
        "automl = AutoMLStep(name='automl')\n"
        "p = Pipeline(ws, steps=[a, automl])\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BuildError) as info:
            check([_project(tmp_path, body)])
    [problem] = info.value.problems
    assert str(problem).startswith("pipelines/build.py:6: step AutoMLStep")
    assert "not available in amlcompile" in str(problem)


def test_unavailable_names_work_in_isinstance_and_issubclass_as_classes_do():
    with hook.installed(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from azureml.pipeline.steps import AutoMLStep, KustoStep, PythonScriptStep

        step = PythonScriptStep(name="s", script_name="a.py")
        assert not isinstance(step, AutoMLStep)
        assert isinstance(step, (AutoMLStep, PythonScriptStep))
        made = AutoMLStep(name="x")
        assert isinstance(made, AutoMLStep) and not isinstance(made, KustoStep)

        class Mine(KustoStep):  # a user's subclass of an unavailable class
            pass

        assert issubclass(Mine, KustoStep) and not issubclass(int, KustoStep)
        assert not issubclass(Mine, AutoMLStep)
        assert isinstance(Mine(), KustoStep) and not isinstance(Mine(), AutoMLStep)


def test_run_after_after_the_pipeline_is_not_in_its_graph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = (
        "from azureml.core import Workspace\n"
        "from azureml.pipeline.core import Pipeline\n"
        "from azureml.pipeline.steps import PythonScriptStep\n"
        "ws = Workspace.from_config()\n"
        "a = PythonScriptStep(name='a', script_name='a.py', source_directory='../src')\n"
        "b = PythonScriptStep(name='b', script_name='a.py', source_directory='../src')\n"
        "first = Pipeline(ws, steps=[a, b], name='first')\n"
        "b.run_after(a)\n"
        "second = Pipeline(ws, steps=[b], name='second')\n"
    )
    compiled = {c.pipeline.name: c.pipeline for c in check([_project(tmp_path, body)])}
    assert all(not s.run_after for s in compiled["first"].steps)
    assert [s.name for s in compiled["second"].steps] == ["a", "b"]
