"""AdlaStep → a BashOperator that submits the U-SQL script with the Azure CLI and waits.

The shell text is fixed; every value (account, job name, script path, parallelism, priority,
runtime version) reaches `az` through environment variables, so no parameter value or path
is ever read as shell code. Pipeline parameters, inputs and outputs become U-SQL `DECLARE`
statements put in front of the script, as string literals.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator

from .binding import StepError, render_token, safe_segment, snapshot_folder
from .reusable import ReusableStep
from .uris import storage_uri

SUBMIT_AND_WAIT = r"""set -euo pipefail
args=(--account "$AML_ADLA_ACCOUNT" --job-name "$AML_ADLA_JOB_NAME" --script "@$AML_ADLA_SCRIPT")
if [ -n "${AML_ADLA_DOP:-}" ]; then args+=(--degree-of-parallelism "$AML_ADLA_DOP"); fi
if [ -n "${AML_ADLA_PRIORITY:-}" ]; then args+=(--priority "$AML_ADLA_PRIORITY"); fi
if [ -n "${AML_ADLA_RUNTIME:-}" ]; then args+=(--runtime-version "$AML_ADLA_RUNTIME"); fi
job=$(az dla job submit "${args[@]}" --query jobId --output tsv)
echo "ADLA job $job submitted to account $AML_ADLA_ACCOUNT"
az dla job wait --account "$AML_ADLA_ACCOUNT" --job-identity "$job" >/dev/null
result=$(az dla job show --account "$AML_ADLA_ACCOUNT" --job-identity "$job" \
  --query result --output tsv)
echo "ADLA job $job finished: $result"
[ "$result" = "Succeeded" ]
"""


def usql_string(value: str) -> str:
    """A U-SQL (C#) string literal holding `value` exactly."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


class AdlaJobOperator(ReusableStep, BashOperator):
    template_fields = ()
    template_ext = ()
    ui_color = "#e0e7ff"

    def __init__(self, *, step: dict, datastores: dict, adla: dict, account: str, **kwargs):
        super().__init__(bash_command=SUBMIT_AND_WAIT, append_env=True, **kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.adla = adla
        self.account = account

    def execute(self, context):
        return self.run_reusable(context, self._submit)

    def _submit(self, context, plan, params, fp) -> dict:
        step, spec = self.step, self.adla
        refs = {**self.input_refs(context, plan), **self.output_refs(context, fp)}
        uris = {
            port: storage_uri(self.datastores, ds, path, step["name"])
            for port, (ds, path) in refs.items()
        }
        values = {
            name: render_token(tok, params, uris, step["name"])
            for name, tok in spec.get("params", [])
        }
        values.update(uris)
        declares = [f"DECLARE @{name} string = {usql_string(v)};" for name, v in values.items()]
        source = snapshot_folder(step) / spec["script"]
        if not source.is_file():
            raise StepError(
                f"step {step['name']!r}: U-SQL script {source} is missing;"
                " redeploy the whole dags_out/ folder"
            )
        workdir = Path(tempfile.mkdtemp(prefix=f"amlcompile-{safe_segment(step['name'])}-"))
        try:
            script = workdir / Path(spec["script"]).name
            script.write_text("\n".join([*declares, source.read_text(encoding="utf-8")]))
            env = {
                "AML_ADLA_ACCOUNT": self.account,
                "AML_ADLA_JOB_NAME": f"{self.dag_id}.{step['name']}.{context['run_id']}"[:200],
                "AML_ADLA_SCRIPT": str(script),
            }
            for key, arg in (
                ("AML_ADLA_DOP", "degree_of_parallelism"),
                ("AML_ADLA_PRIORITY", "priority"),
                ("AML_ADLA_RUNTIME", "runtime_version"),
            ):
                if spec.get(arg) is not None:
                    env[key] = str(spec[arg])
            self.env = env
            self.cwd = str(workdir)
            BashOperator.execute(self, context)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return {"outputs": self.worker_outputs(context, fp)}
