"""Write tests/sdk_reference/signatures.json from the installed Azure ML SDK v1 packages.

Run it in a throwaway venv that has azureml-core, azureml-pipeline-core and
azureml-pipeline-steps (they conflict with Airflow, so never in the project venv):

    python3.11 -m venv /tmp/azureml-ref
    /tmp/azureml-ref/bin/pip install "azureml-pipeline-core==1.62.*" \
        "azureml-pipeline-steps==1.62.*" "azureml-core<2" "azureml-train-core==1.62.*"
    /tmp/azureml-ref/bin/python tools/sdk_signatures.py

The test tests/dsl/test_sdk_signatures.py reads the JSON; it needs no Azure package.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "sdk_reference" / "signatures.json"

# (key used by the test, module, attribute path). The key names the amlcompile object too.
TARGETS = [
    ("Pipeline.__init__", "azureml.pipeline.core", "Pipeline.__init__"),
    ("PipelineData.__init__", "azureml.pipeline.core", "PipelineData.__init__"),
    ("PipelineParameter.__init__", "azureml.pipeline.core", "PipelineParameter.__init__"),
    ("DataReference.__init__", "azureml.data.data_reference", "DataReference.__init__"),
    ("DataPath.__init__", "azureml.data.datapath", "DataPath.__init__"),
    (
        "DataPathComputeBinding.__init__",
        "azureml.data.datapath",
        "DataPathComputeBinding.__init__",
    ),
    ("StepSequence.__init__", "azureml.pipeline.core", "StepSequence.__init__"),
    ("PythonScriptStep.__init__", "azureml.pipeline.steps", "PythonScriptStep.__init__"),
    ("CommandStep.__init__", "azureml.pipeline.steps", "CommandStep.__init__"),
    ("DatabricksStep.__init__", "azureml.pipeline.steps", "DatabricksStep.__init__"),
    ("AdlaStep.__init__", "azureml.pipeline.steps", "AdlaStep.__init__"),
    ("DataTransferStep.__init__", "azureml.pipeline.steps", "DataTransferStep.__init__"),
    ("ScheduleRecurrence.__init__", "azureml.pipeline.core", "ScheduleRecurrence.__init__"),
    ("Schedule.create", "azureml.pipeline.core", "Schedule.create"),
    ("Pipeline.publish", "azureml.pipeline.core", "Pipeline.publish"),
    ("Pipeline.submit", "azureml.pipeline.core", "Pipeline.submit"),
    ("Experiment.submit", "azureml.core", "Experiment.submit"),
    (
        "AmlCompute.provisioning_configuration",
        "azureml.core.compute",
        "AmlCompute.provisioning_configuration",
    ),
    (
        "DatabricksCompute.attach_configuration",
        "azureml.core.compute",
        "DatabricksCompute.attach_configuration",
    ),
    (
        "Datastore.register_azure_blob_container",
        "azureml.core",
        "Datastore.register_azure_blob_container",
    ),
    (
        "Datastore.register_azure_file_share",
        "azureml.core",
        "Datastore.register_azure_file_share",
    ),
    (
        "Datastore.register_azure_data_lake_gen2",
        "azureml.core",
        "Datastore.register_azure_data_lake_gen2",
    ),
    ("Dataset.File.from_files", "azureml.core", "Dataset.File.from_files"),
    (
        "OutputFileDatasetConfig.__init__",
        "azureml.data",
        "OutputFileDatasetConfig.__init__",
    ),
    ("RunConfiguration.__init__", "azureml.core", "RunConfiguration.__init__"),
    ("Environment.__init__", "azureml.core", "Environment.__init__"),
    (
        "CondaDependencies.create",
        "azureml.core.conda_dependencies",
        "CondaDependencies.create",
    ),
    ("PipelineEndpoint.publish", "azureml.pipeline.core", "PipelineEndpoint.publish"),
    ("PublishedPipeline.submit", "azureml.pipeline.core", "PublishedPipeline.submit"),
    # Issue 17: batch scoring, model search, multi-node training.
    ("ParallelRunStep.__init__", "azureml.pipeline.steps", "ParallelRunStep.__init__"),
    ("ParallelRunConfig.__init__", "azureml.pipeline.steps", "ParallelRunConfig.__init__"),
    ("HyperDriveStep.__init__", "azureml.pipeline.steps", "HyperDriveStep.__init__"),
    ("HyperDriveConfig.__init__", "azureml.train.hyperdrive", "HyperDriveConfig.__init__"),
    (
        "GridParameterSampling.__init__",
        "azureml.train.hyperdrive",
        "GridParameterSampling.__init__",
    ),
    (
        "RandomParameterSampling.__init__",
        "azureml.train.hyperdrive",
        "RandomParameterSampling.__init__",
    ),
    (
        "BayesianParameterSampling.__init__",
        "azureml.train.hyperdrive",
        "BayesianParameterSampling.__init__",
    ),
    ("BanditPolicy.__init__", "azureml.train.hyperdrive", "BanditPolicy.__init__"),
    (
        "MedianStoppingPolicy.__init__",
        "azureml.train.hyperdrive",
        "MedianStoppingPolicy.__init__",
    ),
    (
        "TruncationSelectionPolicy.__init__",
        "azureml.train.hyperdrive",
        "TruncationSelectionPolicy.__init__",
    ),
    (
        "NoTerminationPolicy.__init__",
        "azureml.train.hyperdrive",
        "NoTerminationPolicy.__init__",
    ),
    ("TrainingOutput.__init__", "azureml.pipeline.core", "TrainingOutput.__init__"),
    ("MpiStep.__init__", "azureml.pipeline.steps", "MpiStep.__init__"),
    ("ScriptRunConfig.__init__", "azureml.core", "ScriptRunConfig.__init__"),
    ("MpiConfiguration.__init__", "azureml.core.runconfig", "MpiConfiguration.__init__"),
    (
        "PyTorchConfiguration.__init__",
        "azureml.core.runconfig",
        "PyTorchConfiguration.__init__",
    ),
    (
        "TensorflowConfiguration.__init__",
        "azureml.core.runconfig",
        "TensorflowConfiguration.__init__",
    ),
]

KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


def _resolve(module: str, path: str):
    obj = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _parameters(func) -> list[dict]:
    # Several SDK methods are wrapped by decorators (experimental, track); follow __wrapped__.
    func = inspect.unwrap(func)
    out = []
    for p in inspect.signature(func).parameters.values():
        entry = {"name": p.name, "kind": KINDS[p.kind]}
        if p.default is not inspect.Parameter.empty:
            entry["default"] = repr(p.default)
        out.append(entry)
    return out


def main() -> int:
    versions = {
        dist: importlib.metadata.version(dist)
        for dist in (
            "azureml-core",
            "azureml-pipeline-core",
            "azureml-pipeline-steps",
            "azureml-train-core",
        )
    }
    table = {}
    for key, module, path in TARGETS:
        obj = _resolve(module, path)
        table[key] = {
            "module": module,
            "qualname": path,
            # staticmethod/classmethod/method: whether a self/cls argument comes first.
            "binding": _binding(module, path),
            "parameters": _parameters(obj),
        }
    doc = {
        "generated_by": "tools/sdk_signatures.py",
        "python": sys.version.split()[0],
        "packages": versions,
        "signatures": table,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {OUT} ({len(table)} signatures; {versions})")
    return 0


def _binding(module: str, path: str) -> str:
    owner_path, _, attr = path.rpartition(".")
    owner = _resolve(module, owner_path)
    raw = inspect.getattr_static(owner, attr)
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if isinstance(raw, classmethod):
        return "classmethod"
    return "method"


if __name__ == "__main__":
    raise SystemExit(main())
