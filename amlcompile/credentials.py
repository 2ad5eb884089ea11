"""What a secret looks like, and the last check before anything is written.

Names: a key or environment variable name is split into its word parts (`accountKey`,
`STORAGE_ACCOUNTKEY`, `sas-token`, `ClientSecretValue`, `AZURE_STORAGE_CONNECTION_STRING`) and
matched case-insensitively (`secret_name`). A name whose last part says it only refers to a
secret (`..._env`, `..._id`, `..._name`, `..._file`, `..._path`) is not one.

Values: before a build or deploy writes generated files, every file is scanned for the values
of the secrets this process knows (`known_secrets`): the environment variables the config
names for credentials (`[airflow] password_env`, `token_env`) and every environment variable
whose name is secret-looking. A hit refuses the write, naming the file and the config key or
variable, never the value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping

# Word parts: `SASToken` → SAS, Token; `accountKey2` → account, Key, 2; `k8s` → k, 8, s.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# A part that is a secret by itself.
SECRET_WORDS = frozenset(
    {
        "key",
        "keys",
        "secret",
        "secrets",
        "token",
        "tokens",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "cred",
        "creds",
        "sas",
        "pat",
        "sig",
        "apikey",
        "connstr",
        "connstring",
        "connectionstring",
    }
)
# Parts written together (`ACCOUNTKEY`, `clientsecret`): a part ending in one of these...
_JOINED = (
    "secret",
    "secrets",
    "token",
    "tokens",
    "password",
    "passwd",
    "credential",
    "credentials",
)
# ... or in `key` after one of these (`monkey` and `turkey` are not keys).
_KEY_PREFIXES = frozenset(
    {
        "access",
        "account",
        "admin",
        "api",
        "app",
        "auth",
        "client",
        "encryption",
        "function",
        "host",
        "master",
        "primary",
        "private",
        "sas",
        "secondary",
        "secret",
        "service",
        "session",
        "shared",
        "signing",
        "ssh",
        "storage",
        "subscription",
        "instrumentation",
    }
)
# Neighbouring parts that together name a secret.
_PAIRS = frozenset(
    {
        ("connection", "string"),
        ("connection", "str"),
        ("conn", "string"),
        ("conn", "str"),
        ("airflow", "conn"),  # AIRFLOW_CONN_<ID>: a whole connection URI
    }
)
# A last part that makes the name a reference to a secret, not the secret.
REFERENCE_WORDS = frozenset({"env", "id", "ids", "name", "names", "file", "path"})
# Shorter values are not scanned for: they would match by chance.
MIN_SCANNED_LENGTH = 8


def words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def secret_name(name: str) -> bool:
    """Whether a config key or environment variable name says it holds a secret."""
    parts = words(str(name))
    if not parts or parts[-1] in REFERENCE_WORDS:
        return False
    if parts[-1] == "pass":  # DB_PASS, but not PASS_THROUGH
        return True
    for part in parts:
        if part in SECRET_WORDS or part.endswith(_JOINED):
            return True
        if part.endswith("key") and part[:-3] in _KEY_PREFIXES:
            return True
    return any(pair in _PAIRS for pair in zip(parts, parts[1:], strict=False))


def known_secrets(configs: Iterable = (), environ: Mapping[str, str] | None = None) -> dict:
    """label → value of every secret this process knows, for `scan`. The label says where it
    came from: the config key that names its environment variable, or the variable."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for cfg in configs:
        where = str(cfg.source or "the config").replace(" [tool.amlcompile]", "")
        for field in ("password_env", "token_env"):
            variable = getattr(cfg.airflow, field)
            value = environ.get(variable)
            if _scannable(value):
                found.setdefault(value, f"airflow.{field} in {where} (${variable})")
    for variable, value in sorted(environ.items()):
        if secret_name(variable) and _scannable(value):
            found.setdefault(value, f"the environment variable ${variable}")
    return {label: value for value, label in found.items()}


def _scannable(value: str | None) -> bool:
    if not value or len(value.strip()) < MIN_SCANNED_LENGTH:
        return False
    try:  # a file's path (GOOGLE_APPLICATION_CREDENTIALS=/...) is not the secret
        return not (value.startswith(("/", "~", ".")) and os.path.exists(os.path.expanduser(value)))
    except (OSError, ValueError):
        return True


def _forms(value: str) -> list[bytes]:
    """The value as it would appear written raw, in a Python literal or in JSON."""
    forms = {
        value,
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    return sorted(f.encode("utf-8", "surrogatepass") for f in forms)


class SecretInOutput(Exception):
    """A generated file would hold a secret's value (the message never holds the value)."""


def scan(files: Mapping[str, bytes], secrets: Mapping[str, str]) -> None:
    """Raise SecretInOutput at the first file (relative path → bytes) holding a secret."""
    if not secrets:
        return
    needles = [(label, form) for label, value in secrets.items() for form in _forms(value)]
    for rel in sorted(files):
        data = files[rel]
        name = rel.encode("utf-8", "surrogatepass")  # a file's name is written too
        for label, form in needles:
            if form in data or form in name:
                raise SecretInOutput(
                    f"{rel} would contain the value of {label}: refusing to write a secret into"
                    " generated files (pass it at run time through an Airflow connection or an"
                    " environment variable of the workers; keep files holding it out of"
                    " snapshots with .amlignore)"
                )
