"""The runtime shipped in dags_out/ depends on nothing of the compiler."""

from __future__ import annotations

import ast
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1] / "amlcompile" / "runtime"
ALLOWED_TOP = {"airflow", "__future__"}
# Dependencies Airflow and its providers bring, for the modules that need them: the
# object storage's own fsspec/universal-pathlib and the provider's azure-storage-file-share.
# The step library's TabularDataset.to_pandas_dataframe() imports pandas when called, in the
# step process (pandas comes with the step's environment, or a clear error says to add it).
ALLOWED_IN = {
    "fileshare_fs.py": {"fsspec", "upath", "azure"},
    "dbfs_fs.py": {"fsspec", "upath", "requests"},  # requests: the Databricks provider's own
    "amlcompile_run.py": {"pandas"},
    # A ParallelRunStep's process: its tabular mini-batches through the step library's
    # TabularDataset (a sibling module there), as DataFrames (pandas, when they are tabular).
    "amlcompile_parallel.py": {"amlcompile_run", "pandas"},
}


def test_runtime_imports_only_stdlib_airflow_and_itself():
    import sys

    for f in RUNTIME.rglob("*.py"):  # steplib/ too: it runs where nothing is installed
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the runtime package
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top != "amlcompile", f"{f.name} imports the compiler ({name})"
                allowed = ALLOWED_TOP | ALLOWED_IN.get(f.name, set())
                assert top in allowed or top in sys.stdlib_module_names, f"{f.name}: {name}"
