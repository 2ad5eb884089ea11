"""No credential given through the environment, the config or the DSL is ever written down:
not in dags_out/, not in amlcompile's own state and logs (.amlcompile/), not in docs/ or
examples/. Config keys and values that look like secrets are refused, naming only the key."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from amlcompile.config import ConfigError, load
from tests.conftest import EXAMPLES, REPO, amlcompile_cli

# Fake credentials planted where users keep real ones. Each must never be written anywhere.
PLANTED = {
    "AIRFLOW_PASSWORD": "pw-0f3a9c1e-airflow",
    "AIRFLOW_USERNAME": "admin-7d2b",
    "AZURE_STORAGE_KEY": "c2VjcmV0LWtleS0xMjM0NTY3ODkwYWJjZGVm" + "Q" * 52 + "==",
    "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;"
    "AccountKey=ak-5e6f7a8b9c;EndpointSuffix=core.windows.net",
    "DATABRICKS_TOKEN": "dapi-1234567890abcdef-token",
    "AIRFLOW_CONN_BLOB": "wasb://acct:conn-pw-33aa44bb@blob.example/",
    "AZURE_CLIENT_SECRET": "cs~4f5e6d7c8b9a",
}
DSL_SECRETS = {"admin_user_password": "dsl-pw-9a8b7c", "access_token": "dsl-token-6d5e4f"}

# A pipeline that hands credentials to SDK v1 arguments that only mean something on Azure.
SECRET_ARGS = f"""\
from amlcompile import *
ws = Workspace.from_config()
cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=2,
    admin_username="azureuser", admin_user_password={DSL_SECRETS["admin_user_password"]!r})
cluster = ComputeTarget.create(ws, "cpu", cfg)
dbx = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="w",
    access_token={DSL_SECRETS["access_token"]!r})
ComputeTarget.attach(ws, "dbx", dbx)
step = PythonScriptStep("a.py", source_directory="src", compute_target=cluster)
with_secrets = Pipeline(ws, steps=[step])
"""

# What a credential looks like, whoever wrote it (for docs/ and examples/, written by people).
CREDENTIAL = re.compile(
    r"AccountKey=[A-Za-z0-9+/]{20,}|[?&]sig=[A-Za-z0-9%+/]{20,}|://[^/\s:@]+:[^/\s@<>{}]+@"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|dapi[0-9a-f]{32}|[A-Za-z0-9+/]{86}=="
)


def files_under(*folders: Path):
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path


def leaks(paths, secrets) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        found += [f"{path}: {name}" for name, value in secrets.items() if value.encode() in data]
    return found


def test_builds_write_no_credential_from_env_or_dsl(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print('hi')\n")
    (tmp_path / "secret_args.py").write_text(SECRET_ARGS)
    out = tmp_path / "dags_out"
    for target in ("examples", "secret_args.py"):
        result = amlcompile_cli("build", target, "--out", out / target, cwd=tmp_path, env=PLANTED)
        assert result.returncode == 0, result.stderr
        assert not any(v in result.stderr for v in DSL_SECRETS.values()), result.stderr
    assert (out / "secret_args.py" / "with_secrets.py").is_file()
    written = list(files_under(out, tmp_path / ".amlcompile"))
    assert len(written) > 10
    assert leaks(written, {**PLANTED, **DSL_SECRETS}) == []


def test_docs_and_examples_hold_no_credentials():
    found = []
    for path in files_under(REPO / "docs", REPO / "examples", REPO / "README.md"):
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path}: {m.group()[:12]}..." for m in CREDENTIAL.finditer(text)]
    assert found == []


@pytest.mark.parametrize(
    "toml, key",
    [
        (
            "[datastores.blob]\nkind = 'azure_blob'\npath = 'c'\nconn_id = 'x'\naccount_key = 'S'",
            "datastores.blob.account_key",
        ),
        ("[datastores.blob]\nconnection_string = 'S'", "datastores.blob.connection_string"),
        ("[airflow]\npassword = 'S'", "airflow.password"),
        ("[compute.dbx]\nkind = 'databricks'\npat = 'S'", "compute.dbx.pat"),
        ("[compute.sp]\nkind = 'local'\nclient_secret = 'S'", "compute.sp.client_secret"),
        ("[kubernetes]\nkey = 'S'", "kubernetes.key"),
        ("[extra]\nitems = [{ nested = { sas_token = 'S' } }]", "extra.items.0.nested.sas_token"),
        (
            "[datastores.blob]\npath = 'https://acct.blob.example/c?sv=1&sig=S'",
            "datastores.blob.path",
        ),
        ("[airflow]\nurl = 'http://admin:S@airflow.example:8080'", "airflow.url"),
        ("[datastores.blob]\npath = 'AccountName=a;AccountKey=S'", "datastores.blob.path"),
    ],
)
def test_secret_looking_config_is_refused_naming_the_key_only(tmp_path, toml, key):
    (tmp_path / "amlcompile.toml").write_text(toml.replace("S", "hunter2-planted") + "\n")
    with pytest.raises(ConfigError) as exc:
        load(tmp_path)
    message = str(exc.value)
    assert message.startswith(f"{tmp_path / 'amlcompile.toml'}: {key}: "), message
    assert "Airflow connection" in message and "\n" not in message
    assert "hunter2-planted" not in message


@pytest.mark.parametrize(
    "toml",
    [
        "[airflow]\npassword_env = 'AIRFLOW_PASSWORD'\nusername_env = 'AIRFLOW_USERNAME'",
        "[datastores.blob]\nkind = 'azure_blob'\npath = 'container'\nconn_id = 'wasb_default'",
        "[compute.monkey]\nkind = 'local'",
        "[airflow]\nurl = 'http://127.0.0.1:8080'",
    ],
)
def test_connection_ids_and_env_names_are_fine(tmp_path, toml):
    (tmp_path / "amlcompile.toml").write_text(toml + "\n")
    load(tmp_path)


# Spellings of secret keys, matched by word parts whatever the case and separators.
SECRET_SPELLINGS = [
    "accountKey",
    "STORAGE_ACCOUNTKEY",
    "AccountKey",
    "SASToken",
    "sas-url",
    "clientSecretValue",
    "ConnectionString",
    "AZURE_STORAGE_CONNECTION_STRING",
    "conn_str",
    "apiKey",
    "x-api-key",
    "DB_PASS",
    "PASSWORD_HASH",
    "AIRFLOW_CONN_BLOB",
    "appInsightsInstrumentationKey",
    "privateKey",
    "ServicePrincipalCredential",
    "GITHUB_PAT",
]


@pytest.mark.parametrize("name", SECRET_SPELLINGS)
@pytest.mark.parametrize(
    "table", ["datastores.blob", "environments.e.environment_variables", "compute.gpu"]
)
def test_secret_keys_are_recognised_by_word_parts(tmp_path, name, table):
    (tmp_path / "amlcompile.toml").write_text(f'[{table}]\n"{name}" = "hunter2-planted"\n')
    with pytest.raises(ConfigError) as exc:
        load(tmp_path)
    message = str(exc.value)
    assert message.startswith(f"{tmp_path / 'amlcompile.toml'}: {table}.{name}: "), message
    assert "Airflow connection" in message and "hunter2-planted" not in message


@pytest.mark.parametrize(
    "name",
    [
        "k8s_secret_name",
        "password_env",
        "token_file",
        "KEY_VAULT_NAME",
        "monkey",
        "TURKEY",
        "keyboard_layout",
        "PASS_THROUGH",
        "passport_country",
        "compat_mode",
    ],
)
def test_names_that_only_refer_to_secrets_or_merely_contain_the_letters_are_fine(tmp_path, name):
    (tmp_path / "amlcompile.toml").write_text(
        f'[environments.e.environment_variables]\n"{name}" = "v"\n'
    )
    load(tmp_path)


PIPELINE_WITH_ENV = """\
import os
from amlcompile import *
ws = Workspace.from_config()
rc = RunConfiguration()
rc.environment = Environment.get(ws, "e") if "e" in ws._config.environments else rc.environment
step = PythonScriptStep("a.py", source_directory="src", runconfig=rc,
                        arguments=[os.environ.get(os.environ.get("LEAK_FROM", ""), "-")])
p = Pipeline(ws, steps=[step])
"""


def _env_project(tmp_path, toml: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "amlcompile.toml").write_text(toml)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print('hi')\n")
    (tmp_path / "pipe.py").write_text(PIPELINE_WITH_ENV)
    return tmp_path


def test_config_env_secret_with_another_spelling_never_reaches_the_dag(tmp_path):
    """The issue's case: STORAGE_ACCOUNTKEY in an environment's variables was written into
    the DAG. Now the config is refused, naming the key, and nothing is written."""
    value = "c3RvcmFnZS1hY2NvdW50LWtleQ-planted=="
    project = _env_project(
        tmp_path, f'[environments.e.environment_variables]\nSTORAGE_ACCOUNTKEY = "{value}"\n'
    )
    result = amlcompile_cli("build", "pipe.py", cwd=project)
    assert result.returncode == 2
    assert "environments.e.environment_variables.STORAGE_ACCOUNTKEY" in result.stderr
    assert value not in result.stderr + result.stdout
    assert not (project / "dags_out").exists()


@pytest.mark.parametrize(
    "toml, variable, named",
    [
        # a variable whose name looks secret, wherever the pipeline copied its value
        ("", "DATABRICKS_TOKEN", "the environment variable $DATABRICKS_TOKEN"),
        ("", "STORAGE_ACCOUNTKEY", "the environment variable $STORAGE_ACCOUNTKEY"),
        # a variable the config names for a credential, whatever its name
        ('[airflow]\npassword_env = "AF_LOGIN"\n', "AF_LOGIN", "airflow.password_env in"),
        ('[airflow]\ntoken_env = "AF_BEARER"\n', "AF_BEARER", "airflow.token_env in"),
    ],
)
def test_a_secret_value_in_any_generated_file_refuses_the_write(tmp_path, toml, variable, named):
    value = f"planted-{variable.lower()}-0123456789"
    project = _env_project(tmp_path, toml)
    (project / "dags_out").mkdir()
    (project / "dags_out" / "mine.txt").write_text("left alone\n")
    env = {variable: value, "LEAK_FROM": variable}
    result = amlcompile_cli("build", "pipe.py", cwd=project, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr and "p.py would contain the value of" in result.stderr
    assert value not in result.stderr + result.stdout
    assert sorted(p.name for p in (project / "dags_out").iterdir()) == ["mine.txt"]
    # the same build without the secret in it writes
    result = amlcompile_cli("build", "pipe.py", cwd=project, env={variable: value})
    assert result.returncode == 0, result.stderr
    assert leaks(files_under(project / "dags_out"), {variable: value}) == []


def test_a_secret_in_a_snapshot_file_refuses_the_write(tmp_path):
    """Snapshots ship with dags_out/: a `.env` holding a live secret is refused, naming it."""
    value = "planted-databricks-token-42"
    project = _env_project(tmp_path)
    (project / "src" / ".env").write_text(f"DATABRICKS_TOKEN={value}\n")
    result = amlcompile_cli("build", "pipe.py", cwd=project, env={"DATABRICKS_TOKEN": value})
    assert result.returncode == 2
    assert "/.env would contain the value of the environment variable $DATABRICKS_TOKEN" in (
        result.stderr
    )
    assert value not in result.stderr + result.stdout
    (project / "src" / ".amlignore").write_text(".env\n")
    result = amlcompile_cli("build", "pipe.py", cwd=project, env={"DATABRICKS_TOKEN": value})
    assert result.returncode == 0, result.stderr


def test_scan_names_the_file_and_label_never_the_value():
    from amlcompile.credentials import SecretInOutput, scan

    value = "tok'en\\value-1234"
    secrets = {"the environment variable $X_TOKEN": value}
    scan({"a.py": b"print('fine')\n"}, secrets)
    for rel, data in [
        ("a.py", f"x = {value!r}".encode()),  # as a Python literal escapes it
        ("b.json", json.dumps({"v": value}).encode()),  # as JSON escapes it
        (f"snapshots/{value}.txt", b""),  # in a file's name
    ]:
        with pytest.raises(SecretInOutput) as info:
            scan({rel: data}, secrets)
        assert "value of the environment variable $X_TOKEN" in str(info.value)
        assert "value-1234" not in str(info.value).replace(rel, "")
