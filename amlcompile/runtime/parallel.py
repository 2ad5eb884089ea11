"""ParallelRunStep on Airflow (docs/parallel-run.md): three tasks per step.

- `<step>__split` lists the mini-batch inputs' files with their data versions, covers what it
  can with completed batches of earlier runs (records of the reuse protocol, keyed by the
  step's definition, parameters, side inputs and the batch's file names and versions), and
  splits the remaining files into mini-batches of `mini_batch_size` files. It returns the
  batches to compute: the list the next task is mapped over. Inputs on a remote datastore
  are listed there, each file versioned by its ETag; nothing is downloaded.
- `<step>__batches`, one mapped task instance per worker process (dynamic task mapping,
  node_count × process_count_per_node of them, the mini-batches dealt round-robin): a
  subprocess (steplib/amlcompile_parallel.py) calls the entry script's `init()` once and
  `run(mini_batch)` for each of its mini-batches (remote inputs: only those mini-batches'
  files, downloaded to a local temporary folder first). A mini-batch that fully succeeded gets its
  own reuse record, written last; a failed one is reported, not raised, so that the step
  decides with error_threshold as Azure ML does.
- `<step>` gathers: counts failed files and mini-batches against error_threshold,
  allowed_failed_count and allowed_failed_percent, writes the step's output (append_row: the
  rows of every batch in batch order into append_row_file_name; the entry script's own files
  merged), and writes the step's record (the usual protocol, ReusableStep) only when no batch
  failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow.sdk import BaseOperator

from .binding import (
    StepError,
    expand_step,
    parse_size,
    render_token,
    safe_segment,
    snapshot_folder,
    step_doc,
)
from .digests import LinkOutside, now_ns, shared_cache, walk, within
from .metrics import STEPLIB, step_env
from .operators import LocalStepOperator, _Echo, _exit_reason
from .planner import plan_of, run_params
from .reusable import ReusableStep
from .reuse import REGENERATE_PARAM, digest
from .storage import (
    copy_tree,
    datastore_root,
    download_files,
    is_remote,
    location,
    open_store,
    output_manifest,
    record_roots,
    reference_type,
    remote_listing,
    remove_tree,
    version_token,
)

BATCHES_XCOM_KEY = "amlcompile_batches"
DRIVER = STEPLIB / "amlcompile_parallel.py"
ROWS = "rows.txt"  # a batch's rows (what run() returned), in its folder
OWN = "out"  # the entry script's own files of a batch (EntryScript().output_dir)
BATCH_PORT = "batch"  # a batch's one output, as the reuse protocol sees it
SPEC_DEFAULTS = {
    "mini_batch_size": 10,
    "mini_batch_param": None,
    "mini_batch_bytes": False,
    "output_action": "append_row",
    "append_row_file_name": "parallel_run_step.txt",
    "error_threshold": -1,
    "allowed_failed_count": None,
    "allowed_failed_percent": None,
    "run_invocation_timeout": 60,
    "run_max_try": 3,
    "node_count": 1,
    "node_count_param": None,
    "process_count_per_node": None,
    "process_count_param": None,
    "logging_level": "INFO",
}


def spec_of(step: dict) -> dict:
    return {**SPEC_DEFAULTS, **step["parallel_run"]}


def split_task_id(step: str) -> str:
    return f"{step}__split"


def batches_task_id(step: str) -> str:
    return f"{step}__batches"


def batch_output(key: str) -> str:
    """Where a batch's results are on the record datastore (reusable batches)."""
    return f"azureml/fp/{key}/{BATCH_PORT}"


# Each setting a pipeline parameter may give at trigger time, and the key naming that parameter.
PARAM_KEYS = {
    "mini_batch_size": "mini_batch_param",
    "node_count": "node_count_param",
    "process_count_per_node": "process_count_param",
}


def _setting(spec: dict, params: dict, step: str, key: str, what: str, default=None) -> int:
    """A whole number of at least 1: the build's, or a pipeline parameter's at trigger time."""
    value = spec[key]
    param = spec.get(PARAM_KEYS[key])
    if param:
        value = params.get(param, value)
    if value is None:
        return default
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else 0
    except ValueError:
        number = 0
    if number < 1:
        named = f" (pipeline parameter {param!r})" if param else ""
        raise StepError(
            f"step {step!r}: {key} must be a whole number{what} of at least 1, got {value!r}"
            + named
        )
    return number


def mini_batch_size(spec: dict, params: dict, step: str) -> int:
    if not spec["mini_batch_bytes"]:
        return _setting(spec, params, step, "mini_batch_size", " of files")
    value = spec["mini_batch_size"]
    if spec.get("mini_batch_param"):
        value = params.get(spec["mini_batch_param"], value)
    size = parse_size(value)
    if size is None or size < 1:
        raise StepError(
            f"step {step!r}: mini_batch_size must be a size of at least 1 byte (1024, '1024KB',"
            f" '10MB') for tabular inputs, got {value!r}"
        )
    return size


def processes(spec: dict, params: dict, step: str) -> int:
    """Azure ML's worker processes: node_count × process_count_per_node (default: this
    worker's cores)."""
    nodes = _setting(spec, params, step, "node_count", "")
    per_node = _setting(spec, params, step, "process_count_per_node", "", os.cpu_count() or 1)
    return nodes * per_node


class _ParallelBase(ReusableStep, BaseOperator):
    template_fields = ()

    def __init__(self, *, step: dict, datastores: dict, **kwargs):
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores

    def take_step(self, step: dict) -> None:
        """The STEPS entry is keyed by the step's name; this task may be one of its others."""
        self.step = expand_step(step, self.step_name())
        if self.doc_md is None:
            self.doc_md = step_doc(self.step)

    def step_name(self) -> str:
        for suffix in ("__split", "__batches"):
            if self.task_id.endswith(suffix) and not isinstance(self, ParallelRunGatherOperator):
                return self.task_id[: -len(suffix)]
        return self.task_id

    def context_key(self, context, plan: dict) -> str:
        """What every batch of this step shares: its definition (code, arguments, settings),
        the parameter values it uses and the versions of its side inputs."""
        step = self.step
        params = run_params(context)
        spec = spec_of(step)
        side = {}
        for port in step["inputs"]:
            if port["name"] in spec["batch_inputs"]:
                continue
            if port.get("step"):
                side[port["name"]] = {"step": (plan.get(port["step"]) or {}).get("fingerprint")}
            else:
                ref = self.input_refs(context, plan)[port["name"]]
                root = datastore_root(self.datastores, ref[0], step["name"])
                side[port["name"]] = version_token(root / ref[1], root)
        used = {name: params.get(name) for name in step["params"]}
        return digest({"static": step["fingerprint"], "params": used, "side": side})

    def index_dir(self, ctx: str):
        """Which files each completed batch of this step (definition, parameters, side
        inputs) covered, one small JSON per batch, beside the records."""
        root = datastore_root(self.datastores, self.step["record_datastore"], self.step["name"])
        return root / "azureml" / "_reuse" / "batches" / ctx

    def reuse_batches(self, context) -> bool:
        return bool(self.step["allow_reuse"]) and not run_params(context).get(REGENERATE_PARAM)


class ParallelRunSplitOperator(_ParallelBase):
    """Lists the input files, reuses completed mini-batches, splits the rest."""

    ui_color = "#fef3c7"

    def execute(self, context):
        step = self.step
        spec = spec_of(step)
        plan = plan_of(context)
        if "fingerprint" not in (plan.get(step["name"]) or {}):
            raise StepError(
                f"step {step['name']!r}: the reuse plan of this run has no entry for it;"
                " clear the whole run, not the step alone"
            )
        params = run_params(context)
        size = mini_batch_size(spec, params, step["name"])
        workers = processes(spec, params, step["name"])
        started = time.monotonic()
        files = self.list_files(context, plan)
        ctx = self.context_key(context, plan)
        store = open_store(self.datastores, step["record_datastore"], step["name"])
        index_dir = self.index_dir(ctx)
        covered: set[tuple[str, str]] = set()
        batches: list[dict] = []
        if self.reuse_batches(context):
            current = {(p, rel): version for p, rel, version in files}
            for entry in self.index_entries(index_dir):
                names = [(p, rel) for p, rel, _ in entry["files"]]
                if any(current.get((p, rel)) != v for p, rel, v in entry["files"]):
                    continue
                if covered.intersection(names):
                    continue
                key = entry["key"]
                expect = {BATCH_PORT: (step["record_datastore"], batch_output(key))}
                record = store.read_record(
                    key, self.log, record_roots(self.datastores), expect=expect
                )
                if record is None:
                    continue
                covered.update(names)
                batches.append({"key": key, "files": [[p, r] for p, r in names], "cached": True})
        remaining = [f for f in files if (f[0], f[1]) not in covered]
        for chunk in self.chunks(remaining, size, spec["mini_batch_bytes"]):
            key = digest({"context": ctx, "files": [list(f) for f in chunk]})
            batches.append(
                {
                    "key": key,
                    "files": [[p, rel] for p, rel, _ in chunk],
                    "versions": [v for _, _, v in chunk],
                    "cached": False,
                }
            )
        order = {port: n for n, port in enumerate(spec["batch_inputs"])}
        batches.sort(key=lambda b: (order[b["files"][0][0]], b["files"][0][1]))
        for n, b in enumerate(batches):
            b["index"] = n
        cached = sum(1 for b in batches if b["cached"])
        todo = [
            {"index": b["index"], "key": b["key"], "files": b["files"], "versions": b["versions"]}
            for b in batches
            if not b["cached"]
        ]
        # One task instance per worker process, batches dealt round-robin.
        groups = [todo[g::workers] for g in range(min(workers, len(todo)))]
        message = (
            f"step {step['name']}: {_count(len(files), 'file')} in"
            f" {_count(len(batches), 'mini-batch', 'mini-batches')} of up to {size}: {cached}"
            f" reused, {len(todo)} to run in {_count(len(groups), 'process', 'processes')}"
            f" ({time.monotonic() - started:.2f} s)"
        )
        self.log.info("%s", message)
        _Echo(self.task_id)(message)
        context["ti"].xcom_push(
            key=BATCHES_XCOM_KEY,
            value={
                "context": ctx,
                "batches": [
                    {k: b[k] for k in ("index", "key", "files", "cached")} for b in batches
                ],
            },
        )
        return groups

    def chunks(self, files: list, size: int, by_bytes: bool) -> list[list]:
        """`size` files per mini-batch, or (tabular inputs) files adding up to about `size`
        bytes (at least one file each: a file is not split)."""
        if not by_bytes:
            return [files[i : i + size] for i in range(0, len(files), size)]
        out, current, total = [], [], 0
        for f in files:
            nbytes = self.sizes.get((f[0], f[1]), 0)
            if current and total + nbytes > size:
                out.append(current)
                current, total = [], 0
            current.append(f)
            total += nbytes
        if current:
            out.append(current)
        return out

    def list_files(self, context, plan: dict) -> list[tuple[str, str, str]]:
        """(port, relative name, data version) of every file of the mini-batch inputs, sorted
        per input; versions by content (SHA-256 through the worker's digest cache)."""
        step = self.step
        refs = self.input_refs(context, plan)
        cache = shared_cache()
        self.sizes: dict[tuple[str, str], int] = {}
        out: list[tuple[str, str, str]] = []
        for port in spec_of(step)["batch_inputs"]:
            ref = refs[port]
            root = datastore_root(self.datastores, ref[0], step["name"])
            where = self.worker_location(ref)
            if is_remote(location(where)):
                out += self.list_remote(port, location(where))
                continue
            try:
                real = within(root, where)
                if os.path.isfile(real):
                    entries = [(os.path.basename(real), real, os.stat(real))]
                elif os.path.isdir(real):
                    entries, _ = walk(str(root), real)
                else:
                    raise StepError(
                        f"step {step['name']!r}: input {port!r}: {where} does not exist"
                    )
            except LinkOutside as exc:
                raise StepError(f"step {step['name']!r}: input {port!r}: {exc}") from None
            looked_at = now_ns()
            versions = cache.digests([(p, st) for _, p, st in entries], looked_at)
            out += [
                (port, rel, "file:" + v) for (rel, _, _), v in zip(entries, versions, strict=True)
            ]
            self.sizes.update({(port, rel): st.st_size for rel, _, st in entries})
        cache.save()
        return out

    def list_remote(self, port: str, where) -> list[tuple[str, str, str]]:
        """An input on blob storage (or a file share, DBFS): its files listed there, each
        versioned by its ETag (as the planner versions remote inputs), nothing downloaded."""
        try:
            listing = remote_listing(where)
        except (FileNotFoundError, ValueError) as exc:
            raise StepError(f"step {self.step['name']!r}: input {port!r}: {exc}") from None
        self.sizes.update({(port, rel): size for rel, _, size in listing})
        return [(port, rel, version) for rel, version, _ in listing]

    def index_entries(self, folder) -> list[dict]:
        """The completed batches of this step definition, smallest first file first; any
        entry that is not ours (unreadable, too big, malformed) is ignored: the record
        decides anyway."""
        entries = []
        for path, size in index_files(folder):
            try:
                if size > 4 << 20:
                    continue
                entry = json.loads(path.read_text())
                if not isinstance(entry, dict) or entry.get("key") != path.name[: -len(".json")]:
                    continue
                files = entry.get("files")
                if (
                    not isinstance(files, list)
                    or not files
                    or not all(
                        isinstance(f, list) and len(f) == 3 and all(isinstance(x, str) for x in f)
                        for f in files
                    )
                ):
                    continue
                entries.append(entry)
            except (OSError, ValueError):
                continue
        entries.sort(key=lambda e: (e["files"][0][0], e["files"][0][1]))
        return entries


class ParallelRunBatchOperator(_ParallelBase, LocalStepOperator):
    """A group of mini-batches, as one Azure ML worker process: init() once, then run() per
    mini-batch, in a subprocess (steplib/amlcompile_parallel.py)."""

    ui_color = "#fde68a"

    def __init__(self, *, step: dict, datastores: dict, batches: list[dict], **kwargs):
        BaseOperator.__init__(self, **kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.batches = batches
        self.xcom_log_tail = 0
        self._proc = None

    def batch_ref(self, context, batch: dict) -> tuple[str, str]:
        step = self.step
        rel = (
            batch_output(batch["key"])
            if step["allow_reuse"]
            else f"azureml/{safe_segment(self.dag_id)}/{safe_segment(context['run_id'])}"
            f"/{step['name']}/batches/{batch['index']}"
        )
        return step["record_datastore"], rel

    def execute(self, context):
        step = self.step
        spec = spec_of(step)
        plan = plan_of(context)
        params = run_params(context)
        store = open_store(self.datastores, step["record_datastore"], step["name"])
        reusable = self.reuse_batches(context)
        folders = {}
        for batch in self.batches:
            folder = location(self.worker_location(self.batch_ref(context, batch)))
            remove_tree(folder)  # a retry starts afresh; the record is written last
            folders[batch["key"]] = folder
        workdir = Path(tempfile.mkdtemp(prefix=f"amlcompile-{safe_segment(step['name'])}-"))
        results_dir = workdir.with_name(workdir.name + ".results")
        try:
            shutil.copytree(snapshot_folder(step), workdir, dirs_exist_ok=True)
            results_dir.mkdir()
            work = self.batch_workdirs(folders, results_dir / "batches")
            side = [p["name"] for p in step["inputs"] if p["name"] not in spec["batch_inputs"]]
            ports = self._inputs(context, plan, workdir, only=set(side))
            inputs = dict(ports)
            refs = self.input_refs(context, plan)
            roots = {p: self.worker_location(refs[p]) for p in spec["batch_inputs"]}
            roots.update(self.download_batches(roots, results_dir / "inputs"))
            tabular = {p["name"]: p.get("tabular") for p in step["inputs"]}
            for port in spec["batch_inputs"]:  # an argument naming the input: its folder
                ports[port] = roots[port]
            own = str(results_dir / "own")  # EntryScript().output_dir; sorted per batch
            os.mkdir(own)
            for port in step["outputs"]:  # ... or the output: the entry script's own files
                ports[port["name"]] = own
            jobs = []
            for batch in self.batches:
                files = []
                for port, name in batch["files"]:
                    where = roots[port]
                    files.append(where if os.path.isfile(where) else os.path.join(where, name))
                tables = {}
                for port, name in batch["files"]:
                    if tabular.get(port) is not None:
                        tables.setdefault(port, {"path": roots[port], "spec": tabular[port]})
                        tables[port].setdefault("files", []).append(name)
                jobs.append(
                    {
                        "index": batch["index"],
                        # tabular inputs: run() gets a DataFrame of these files' rows
                        "tables": list(tables.values()),
                        "mini_batch": files,
                        "rows_file": str(work[batch["key"]] / ROWS),
                        "result_file": str(results_dir / f"{batch['index']}.json"),
                        "own_dir": str(work[batch["key"]] / OWN),
                    }
                )
            argv = [render_token(t, params, ports, step["name"]) for t in step["arguments"]]
            job = {
                "entry_script": str(workdir / step["script"]),
                "argv": argv,
                "timeout": spec["run_invocation_timeout"],
                "max_try": spec["run_max_try"],
                "output_dir": own,
                "batches": jobs,
            }
            job_file = results_dir / "job.json"
            job_file.write_text(json.dumps(job))
            env = dict(os.environ)
            for key, token in step["env"]:
                env[key] = render_token(token, params, ports, step["name"])
            env.update(
                {
                    "PYTHONUNBUFFERED": "1",
                    "AZUREML_RUN_ID": f"{context['run_id']}/{step['name']}",
                    "AMLCOMPILE_STEP": step["name"],
                    "AMLCOMPILE_DAG_ID": self.dag_id,
                    "AMLCOMPILE_PRS_OUTPUT_DIR": own,
                    "AMLCOMPILE_PRS_LOG_LEVEL": spec["logging_level"],
                }
            )
            env = step_env(env, inputs, results_dir / "metrics.jsonl")
            code, tail = self._run([sys.executable, str(DRIVER), str(job_file)], workdir, env)
            if code != 0:  # the process itself died (killed, out of memory): the task fails
                raise StepError(
                    f"step {step['name']!r}: the process of mini-batches"
                    f" {', '.join(str(b['index']) for b in self.batches)} failed:"
                    f" {_exit_reason(code)}\n" + "\n".join(tail[-20:])
                )
            results = []
            for batch in self.batches:
                self.publish_batch(work[batch["key"]], folders[batch["key"]])
                result = json.loads((results_dir / f"{batch['index']}.json").read_text())
                result.update(
                    index=batch["index"], key=batch["key"], location=str(folders[batch["key"]])
                )
                if result["error"] or result["failed_items"]:
                    why = result["error"] or (
                        f"run() returned {result['returned']} results for {result['items']} files"
                    )
                    self.log.warning(
                        "step %s: mini-batch %s failed (%s of %s files): %s",
                        step["name"],
                        batch["index"],
                        result["failed_items"],
                        result["items"],
                        why,
                    )
                    result["error"] = why[-4000:]
                elif reusable:
                    self._record(store, folders[batch["key"]], batch, context)
                results.append(result)
            return {"batches": results}  # the step's own task decides (error_threshold)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(results_dir, ignore_errors=True)

    def batch_workdirs(self, folders: dict, staging: Path) -> dict:
        """Where the process writes each batch: its folder on a local record datastore, else a
        local staging folder uploaded to it afterwards (publish_batch)."""
        work = {}
        for n, (key, folder) in enumerate(folders.items()):
            work[key] = staging / str(n) if is_remote(folder) else folder
            (work[key] / OWN).mkdir(parents=True)
        return work

    def publish_batch(self, local: Path, folder) -> None:
        """A batch staged locally is uploaded to the remote record datastore (before its
        record, which is written last)."""
        if local != folder:
            remove_tree(folder)
            copy_tree(local, folder)

    def download_batches(self, roots: dict[str, str], folder: Path) -> dict[str, str]:
        """Inputs on a remote datastore: this process's mini-batches' files only, copied into
        a local folder per input (removed with the task's temporary folders), so that run()
        gets local paths as on Azure ML's mounted inputs. Returns those inputs' local roots."""
        local = {}
        for port, where in roots.items():
            source = location(where)
            if not is_remote(source):
                continue
            names = [name for b in self.batches for p, name in b["files"] if p == port]
            target = folder / safe_segment(port)
            target.mkdir(parents=True, exist_ok=True)
            try:
                download_files(source, names, target)
            except (FileNotFoundError, ValueError) as exc:
                raise StepError(
                    f"step {self.step['name']!r}: input {port!r} changed while the step ran"
                    f" ({exc}); run it again"
                ) from None
            self.log.info("step %s: downloaded %s of input %s", self.step["name"], len(names), port)
            local[port] = str(target)
        return local

    def _run(self, argv, workdir, env) -> tuple[int, list[str]]:
        tail: list[str] = []
        self._proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert self._proc.stdout is not None
        echo = _Echo(self.task_id)
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            tail = [*tail[-19:], line]
            self.log.info("%s", line)
            if line.startswith("[mini-batch "):  # progress, in `amlcompile run` too
                echo(line)
        return self._proc.wait(), tail

    def _record(self, store, folder, batch, context) -> None:
        """The batch's record (the reuse protocol's, under the batch's key) and its index entry
        (which files, which versions), both after the batch's files are complete."""
        step = self.step
        ref = self.batch_ref(context, batch)
        manifest = output_manifest(self.datastores, ref[0], str(folder), step["name"])
        if manifest is None:
            return
        record = {
            "fingerprint": batch["key"],
            "outputs": {BATCH_PORT: str(folder)},
            "manifests": {BATCH_PORT: manifest},
            "inputs": {},
            "produced_by": {
                "dag_id": self.dag_id,
                "run_id": context["run_id"],
                "task_id": self.task_id,
                "map_index": getattr(context.get("ti"), "map_index", None),
            },
            "refs": {BATCH_PORT: list(ref)},
        }
        self.write_record(store, batch["key"], record)
        ctx = (
            context["ti"].xcom_pull(task_ids=split_task_id(step["name"]), key=BATCHES_XCOM_KEY)
            or {}
        ).get("context")
        if not ctx:
            return
        index = self.index_dir(ctx)
        entry = {
            "key": batch["key"],
            "files": [
                [p, n, v] for (p, n), v in zip(batch["files"], batch["versions"], strict=True)
            ],
        }
        write_index_entry(index, batch["key"], entry)


class ParallelRunGatherOperator(_ParallelBase):
    """The step's own task: error thresholds, the step's output and its record."""

    ui_color = "#dbeafe"

    def execute(self, context):
        return self.run_reusable(context, self._gather)

    def _gather(self, context, plan, params, fp) -> dict:
        step = self.step
        spec = spec_of(step)
        ti = context["ti"]
        split = ti.xcom_pull(task_ids=split_task_id(step["name"]), key=BATCHES_XCOM_KEY) or {}
        batches = split.get("batches") or []
        results = ti.xcom_pull(task_ids=batches_task_id(step["name"])) or []
        if isinstance(results, dict):  # one mapped task instance: its value alone
            results = [results]
        by_key = {
            r["key"]: r
            for group in results
            if isinstance(group, dict)
            for r in group.get("batches") or []
            if isinstance(r, dict) and "key" in r
        }
        failed, failed_items, total_items = [], 0, 0
        folders = []
        for b in batches:
            total_items += len(b["files"])
            if b["cached"]:
                ref = (step["record_datastore"], batch_output(b["key"]))
                folders.append(location(self.worker_location(ref)))
                continue
            r = by_key.get(b["key"])
            if r is None:
                raise StepError(
                    f"step {step['name']!r}: mini-batch {b['index']} left no result; clear the"
                    " whole run, not the step alone"
                )
            if r.get("error") or r.get("failed_items"):
                failed.append((b, r))
                failed_items += int(r.get("failed_items") or 0)
            folders.append(location(r["location"]))
        self.check_thresholds(spec, batches, failed, failed_items)
        outputs = self.worker_outputs(context, fp)
        if outputs:
            (out,) = outputs.values()
            out = location(out)
            if is_remote(out):  # written locally, then uploaded as other local steps do
                stage = Path(tempfile.mkdtemp(prefix="amlcompile-prs-out-"))
                try:
                    self.write_output(spec, folders, stage)
                    remove_tree(out)
                    copy_tree(stage, out)
                finally:
                    shutil.rmtree(stage, ignore_errors=True)
            else:
                self.write_output(spec, folders, out)
        reused = sum(1 for b in batches if b["cached"])
        summary = {
            "mini_batches": len(batches),
            "reused": reused,
            "ran": len(batches) - reused,
            "failed": len(failed),
            "files": total_items,
            "failed_files": failed_items,
        }
        self.log.info("step %s: %s", step["name"], summary)
        result = {"outputs": outputs, "mini_batches": summary}
        if failed:  # under the thresholds: the step succeeds, but partial results are not reused
            result["reusable"] = False
        return result

    def write_output(self, spec: dict, folders: list, out: Path) -> None:
        """append_row: every batch's rows in batch order; then the entry script's own files,
        batch after batch. Batch folders may be local or remote."""
        out.mkdir(parents=True, exist_ok=True)
        if spec["output_action"] == "append_row":
            with open(out / spec["append_row_file_name"], "wb") as writer:
                for folder in folders:
                    rows = folder / ROWS
                    if reference_type(rows) == "file":
                        with rows.open("rb") as reader:
                            shutil.copyfileobj(reader, writer)
        for folder in folders:
            own = folder / OWN
            if reference_type(own) == "directory":
                copy_tree(own, out)

    def check_thresholds(self, spec, batches, failed, failed_items) -> None:
        """Azure ML's rules: error_threshold counts failed files, allowed_failed_count and
        allowed_failed_percent failed mini-batches, over the whole input; -1: any."""
        if not failed:
            return
        over = []
        threshold = spec["error_threshold"]
        if threshold != -1 and failed_items > threshold:
            over.append(f"{failed_items} files failed, more than error_threshold={threshold}")
        count = spec["allowed_failed_count"]
        if count is not None and count != -1 and len(failed) > count:
            over.append(
                f"{len(failed)} mini-batches failed, more than allowed_failed_count={count}"
            )
        percent = spec["allowed_failed_percent"]
        if percent is not None and batches and len(failed) * 100.0 / len(batches) > percent:
            over.append(
                f"{len(failed)} of {len(batches)} mini-batches failed, more than"
                f" allowed_failed_percent={percent:g}"
            )
        details = "\n".join(
            f"  mini-batch {b['index']} ({b['files'][0][1]} .. {b['files'][-1][1]}):"
            f" {(r.get('error') or '').strip().splitlines()[-1] if r.get('error') else ''}"
            for b, r in failed[:10]
        )
        if over:
            raise StepError(f"step {self.step['name']!r} failed: {'; '.join(over)}\n{details}")
        _Echo(self.task_id)(
            f"{len(failed)} of {len(batches)} mini-batches ({failed_items} files) failed,"
            " within the thresholds; the step's result is not reused"
        )
        self.log.warning(
            "step %s: %s mini-batches (%s files) failed, within the thresholds:\n%s",
            self.step["name"],
            len(failed),
            failed_items,
            details,
        )


__all__ = [
    "ParallelRunBatchOperator",
    "ParallelRunGatherOperator",
    "ParallelRunSplitOperator",
    "batches_task_id",
    "split_task_id",
]


def index_files(folder) -> list[tuple]:
    """(path, size) of the index entries (`*.json`) directly in a folder, local or remote."""
    if is_remote(folder):
        folder.fs.invalidate_cache()
        prefix = folder.path.rstrip("/")
        try:
            listing = folder.fs.find(prefix, maxdepth=1, detail=True, withdirs=False)
        except FileNotFoundError:
            return []
        return [
            (folder / key.rpartition("/")[2], int(info.get("size") or 0))
            for key, info in sorted(listing.items())
            if key.endswith(".json") and "/" not in key[len(prefix) :].strip("/")
        ]
    if not folder.is_dir():
        return []
    return [(p, p.stat().st_size) for p in sorted(folder.glob("*.json")) if not p.is_symlink()]


def write_index_entry(folder, key: str, entry: dict) -> None:
    """An index entry, whole or not at all (a local rename; one blob upload)."""
    body = json.dumps(entry)
    if is_remote(folder):
        (folder / f"{key}.json").write_text(body)
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    tmp.write_text(body)
    os.replace(tmp, folder / f"{key}.json")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
