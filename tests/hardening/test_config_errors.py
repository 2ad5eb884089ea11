"""A bad project config is one clear error naming the file and the key (and the line, where
TOML gives one), never a bare TypeError, ValueError or UnicodeDecodeError (SPEC 4)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlcompile.config import ConfigError, ProjectConfig, load
from tests.conftest import amlcompile_cli


def refused(tmp_path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    return str(info.value)


@pytest.mark.parametrize(
    "toml, key",
    [
        ('datastores = "x"', "datastores"),
        ("datastores = []", "datastores"),
        ("datastores = 3", "datastores"),
        ('compute = "x"', "compute"),
        ("environments = [1]", "environments"),
        ('kubernetes = "x"', "kubernetes"),
        ('airflow = ["x"]', "airflow"),
        ("[datastores]\nblob = 'x'", "datastores.blob"),
        ("[compute.gpu]\nkind = 'amlcompute'\nnode_selector = 'x'", "compute.gpu.node_selector"),
        # root and source are what the loader fills in, not config keys
        ('root = "/etc"', "root"),
        ('source = "x"', "source"),
    ],
)
def test_wrongly_shaped_config_names_file_and_key(tmp_path, toml, key):
    message = refused(tmp_path, "amlcompile.toml", toml + "\n")
    assert message.startswith(f"{tmp_path / 'amlcompile.toml'}: {key}: "), message
    assert "\n" not in message


def test_non_utf8_config_is_one_line_with_the_file(tmp_path):
    message = refused(tmp_path, "amlcompile.toml", b"[airflow]\nurl = '\xff\xfe'\n")
    assert message.startswith(f"{tmp_path / 'amlcompile.toml'}:2: not UTF-8 text"), message
    assert "\n" not in message


def test_non_utf8_pyproject_names_pyproject(tmp_path):
    message = refused(tmp_path, "pyproject.toml", b"[project]\nname = '\xe9t\xe9'\n")
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}:2: not UTF-8 text"), message


def test_syntax_error_in_amlcompile_toml_gives_its_line(tmp_path):
    message = refused(tmp_path, "amlcompile.toml", "[airflow]\nurl = \n")
    assert message.startswith(f"{tmp_path / 'amlcompile.toml'}:2: not valid TOML: "), message


def test_syntax_error_in_pyproject_is_reported_against_pyproject(tmp_path):
    message = refused(tmp_path, "pyproject.toml", "[project]\nname = 'x'\n[tool.amlcompile\n")
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}:3: not valid TOML: "), message
    assert "amlcompile.toml" not in message.replace("[tool.amlcompile]", "")


@pytest.mark.parametrize(
    "toml, key",
    [
        ('[tool]\namlcompile = "x"', "tool.amlcompile"),
        ("[tool]\namlcompile = [1, 2]", "tool.amlcompile"),
        ("[tool.amlcompile]\ndatastores = []", "tool.amlcompile.datastores"),
    ],
)
def test_wrongly_shaped_tool_table_in_pyproject(tmp_path, toml, key):
    message = refused(tmp_path, "pyproject.toml", toml + "\n")
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}"), message
    assert f" {key}: " in message or f"]: {key.removeprefix('tool.amlcompile.')}: " in message
    assert "\n" not in message


@pytest.mark.parametrize("toml", ['tool = "amlcompile"', "tool = ['amlcompile']"])
def test_a_tool_key_that_is_no_table_holds_no_amlcompile_config(tmp_path, toml):
    (tmp_path / "pyproject.toml").write_text(toml + "\n")
    assert load(tmp_path).source is None


def test_project_id_survives_a_non_utf8_pyproject(tmp_path):
    (tmp_path / "amlcompile.toml").write_text("")
    (tmp_path / "pyproject.toml").write_bytes(b"[project]\nname = '\xff'\n")
    assert load(tmp_path).project_id == tmp_path.name


def test_cli_shows_one_line_for_a_wrongly_shaped_config(project):
    project.write("src/a.py", "print(1)\n")
    project.write(
        "pipe.py",
        "from amlcompile import *\nws = Workspace.from_config()\n"
        'p = Pipeline(ws, steps=[PythonScriptStep("a.py", source_directory="src")])\n',
    )
    project.write("amlcompile.toml", 'datastores = "x"\n')
    result = amlcompile_cli("check", "pipe.py", cwd=project.root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "TypeError" not in result.stderr
    assert f"{project.root / 'amlcompile.toml'}: datastores: " in result.stderr


# ---- any shape of config: a ProjectConfig or one ConfigError naming the file ----

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_keys = st.sampled_from(
    [
        "datastores",
        "compute",
        "environments",
        "kubernetes",
        "airflow",
        "workspace",
        "kind",
        "path",
        "conn_id",
        "default_datastore",
        "dags_out",
        "project",
        "node_selector",
        "environment_variables",
        "root",
        "blob",
        "workspaceblobstore",
    ]
) | _text.filter(bool)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "0.0"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=4), st.booleans())
def test_any_config_shape_loads_or_is_refused_naming_the_file(tmp_path_factory, raw, in_pyproject):
    folder = tmp_path_factory.mktemp("cfg")
    body = "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in raw.items())
    if in_pyproject:
        path = folder / "pyproject.toml"
        path.write_text("[tool.amlcompile]\n" + body, encoding="utf-8")
    else:
        path = folder / "amlcompile.toml"
        path.write_text(body, encoding="utf-8")
    try:
        cfg = load(folder)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            assert line.startswith(str(path)), line
        return
    assert isinstance(cfg, ProjectConfig)
