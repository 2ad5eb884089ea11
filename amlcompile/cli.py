"""Command line: a thin layer over compiler, local_run. One clear line per error."""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from pathlib import Path

from . import __version__
from .config import ConfigError
from .exceptions import AmlCompileError, BuildError
from .runtime.reuse import CONTINUE_PARAM, REGENERATE_PARAM


def _cmd_check(args) -> int:
    from .compiler import check

    compiled = check(args.paths)
    for c in compiled:
        print(f"ok  {c.pipeline.name}  ({len(c.pipeline.steps)} steps, {c.pipeline.source_file})")
    return 0


def _cmd_build(args) -> int:
    from .compiler import build

    result = build(args.paths, out_dir=args.out, template=args.template)
    for c in result.compiled:
        print(
            f"built  {result.out_dir / (c.pipeline.name + '.py')}  ({len(c.pipeline.steps)} steps)"
        )
    changes = result.changes
    _print_notes(changes)
    print(
        f"{len(changes['written'])} files written, {len(changes['unchanged'])} unchanged,"
        f" {len(changes['removed'])} removed in {result.out_dir}"
    )
    return 0


def _print_notes(changes: dict) -> None:
    for line in changes.get("notes") or []:
        print(f"note: {line}")
    for rel in changes.get("removed") or []:
        print(f"removed  {rel}")


def _continue_option(parser) -> None:
    parser.add_argument(
        "--continue-on-step-failure",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after a step fails, still start the steps that do not depend on it"
        " (default: the pipeline's own setting, normally off, as in Azure ML)",
    )


def _cmd_run(args) -> int:
    from .console import Console
    from .local_run import parse_params, print_result, run_compiled, select

    out = Console()
    with out.working(f"compiling {args.pipeline} (hashing code snapshots, rendering the DAG)..."):
        compiled = select(args.pipeline)
    conf = parse_params(compiled.pipeline, args.param)
    if args.regenerate_outputs:
        conf[REGENERATE_PARAM] = True
    if args.continue_on_step_failure is not None:
        conf[CONTINUE_PARAM] = args.continue_on_step_failure
    remote = sorted(
        f"{s.name} ({c.kind} {c.name!r})"
        for s in compiled.pipeline.steps
        for c in compiled.pipeline.computes
        if c.name == s.compute and c.kind != "local"
    )
    if remote and not args.local:
        print(
            "note: " + ", ".join(remote) + " run on remote compute from the embedded Airflow;"
            " add --local to run them on this machine",
            file=sys.stderr,
        )
    result = run_compiled(
        compiled,
        conf,
        force_local=args.local,
        verbose=args.verbose,
        console=out,
        plan_first=not args.airflow,
    )
    print_result(result, out)
    return 0 if result.succeeded else 1


def _cmd_migrate(args) -> int:
    try:
        import libcst  # noqa: F401
    except ImportError:
        raise AmlCompileError(
            "migrate needs libcst: pip install 'amlcompile[migrate]' -c"
            " constraints/constraints-3.11.txt"
        ) from None
    from .migrate import main as migrate_main

    return migrate_main(args.paths, check=args.check, diff=args.diff)


# -- lifecycle over Airflow's REST API (amlcompile.rest) ------------------------------------------
def _client():
    from .config import load
    from .rest import AirflowClient

    cfg = load()
    return cfg, AirflowClient.from_config(cfg)


def _cmd_deploy(args) -> int:
    from .compiler import owner_of
    from .rest import lifecycle

    cfg, client = _client()
    folder = args.dags_folder or cfg.airflow.dags_folder
    if not folder:
        raise ConfigError(
            "deploy: give --dags-folder DIR or set [airflow] dags_folder in the config"
            " (Airflow's [core] dags_folder)"
        )
    folder = (cfg.root / folder).resolve() if not Path(folder).is_absolute() else Path(folder)
    out = cfg.dags_out_path
    if not out.is_dir():
        raise ConfigError(f"deploy: {out} does not exist; run amlcompile build first")
    plugin_line = None
    plugins = args.plugins_folder or cfg.airflow.plugins_folder
    if plugins:
        plugins = _plugins_path(cfg, plugins)
        plugin_line = _plugin_line(plugins, lifecycle.install_plugin(plugins))
    dag_ids = [p.stem for p in sorted(out.glob("*.py"))]
    sizes = lifecycle.amlcompute_sizes(out, dag_ids, cfg.root)
    result = lifecycle.deploy(
        client,
        out,
        folder,
        sizes,
        timeout=args.timeout,
        reserialize=args.reserialize,
        progress=lambda line: print(line, flush=True),
        owner=owner_of(cfg),
        executor=cfg.airflow.executor,
    )
    c = result.changes
    for rel in c["removed"]:
        print(f"removed  {rel}")
    print(
        f"deployed {out} to {folder}: {len(c['written'])} written, {len(c['unchanged'])}"
        f" unchanged, {len(c['removed'])} removed"
    )
    if plugin_line:
        print(plugin_line)
    for line in result.pools:
        print(line)
    for dag_id in result.known:
        print(f"ok  {dag_id}")
    for line in result.errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if result.errors else 0


def _plugins_path(cfg, folder) -> Path:
    return (cfg.root / folder).resolve() if not Path(folder).is_absolute() else Path(folder)


def _plugin_line(folder: Path, what: str) -> str:
    line = f"plugin amlcompile_plugin.py in {folder}: {what}"
    if what != "unchanged":
        line += " (restart Airflow's api-server to load it: plugins load when it starts)"
    return line


def _cmd_install_plugin(args) -> int:
    from .config import load
    from .rest import lifecycle

    cfg = load()
    folder = args.plugins_folder or cfg.airflow.plugins_folder
    if not folder:
        raise ConfigError(
            "install-plugin: give --plugins-folder DIR or set [airflow] plugins_folder in the"
            " config (Airflow's [core] plugins_folder)"
        )
    folder = _plugins_path(cfg, folder)
    print(_plugin_line(folder, lifecycle.install_plugin(folder)))
    return 0


def _cmd_publish(args) -> int:
    from .rest import lifecycle

    _, client = _client()
    record = lifecycle.publish(client, args.name, args.version, args.description)
    version = f" version {record['version']}" if record["version"] else ""
    print(f"published {args.name}{version} (unpaused)")
    return 0


def _cmd_pause(args) -> int:
    _, client = _client()
    client.set_paused(args.name, args.command == "disable")
    print(f"{args.name} {'disabled (paused)' if args.command == 'disable' else 'enabled'}")
    return 0


def _cmd_trigger(args) -> int:
    import json

    from .rest import lifecycle

    _, client = _client()
    dag = client.dag_details(args.name)
    conf = {}
    if args.body:
        try:
            body = json.loads(Path(args.body).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--body {args.body}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"--body {args.body}: not valid JSON: {exc}") from None
        conf, _experiment = lifecycle.conf_from_azure_body(body, f"--body {args.body}", dag)
    conf.update(lifecycle.conf_from_params(dag, args.param))
    if args.timeout is not None and not args.wait:
        raise ConfigError("trigger: --timeout only applies with --wait")
    run, created = lifecycle.trigger(
        client,
        args.name,
        conf,
        args.run_id,
        args.regenerate_outputs,
        args.continue_on_step_failure,
        unpause=args.unpause,
    )
    run_id = run["dag_run_id"]
    if created and args.unpause and dag.get("is_paused"):
        print(f"{args.name} enabled (unpaused)")
    print(f"{'triggered' if created else 'already triggered'} {args.name} run {run_id}")
    if not args.wait:
        return 0
    final = lifecycle.wait(
        client,
        args.name,
        run_id,
        show=lambda line: print(line, flush=True),
        timeout=args.timeout,
    )
    for line in lifecycle.run_report(client, args.name, run_id):
        print(line)
    print(f"run {run_id}: {final['state']}")
    return 0 if final["state"] == "success" else 1


def _cmd_runs(args) -> int:
    _, client = _client()
    runs = client.dag_runs(args.name, limit=args.limit)
    if not runs:
        print(f"{args.name} has no runs")
    for r in runs:
        started = r.get("start_date") or r.get("run_after") or "-"
        print(f"{r['dag_run_id']:<48} {r.get('state') or '-':<10} {started}")
    return 0


def _embedded_run(args) -> dict | None:
    """A run of the embedded Airflow (`amlcompile run`) recorded in this project, if any."""
    from .config import STATE_DIR, find_root
    from .local_run import load_run

    return load_run(find_root(Path.cwd()) / STATE_DIR, args.name, args.run)


def _cmd_status(args) -> int:
    from .rest import lifecycle

    body = _embedded_run(args)
    if body is not None:
        from .local_run import status_lines

        for line in status_lines(body):
            print(line)
        return 0
    _, client = _client()
    run = client.dag_run(args.name, args.run)
    print(f"run {args.run} of {args.name}: {run.get('state')}")
    for line in lifecycle.run_report(client, args.name, args.run):
        print(line)
    return 0


def _cmd_logs(args) -> int:
    from .rest import lifecycle

    body = _embedded_run(args)
    if body is not None:
        from .local_run import step_log

        sys.stdout.write(step_log(body, args.step))
        return 0
    _, client = _client()
    print(lifecycle.logs(client, args.name, args.run, args.step))
    return 0


def _cmd_cancel(args) -> int:
    from .rest import lifecycle

    _, client = _client()
    run = lifecycle.cancel(client, args.name, args.run)
    print(f"run {args.run} of {args.name}: {run.get('state')}")
    return 0


def _add_lifecycle_commands(sub) -> None:
    p = sub.add_parser("deploy", help="copy dags_out/ into Airflow and wait until it is parsed")
    p.add_argument("--dags-folder", default=None, help="Airflow's DAGs folder")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for parsing")
    p.add_argument(
        "--reserialize",
        action="store_true",
        help="on the Airflow host: parse new files now (airflow dags reserialize)",
    )
    p.add_argument(
        "--plugins-folder",
        default=None,
        help="Airflow's plugins folder: install amlcompile's REST plugin there too",
    )
    p.set_defaults(func=_cmd_deploy)

    p = sub.add_parser(
        "install-plugin",
        help="copy amlcompile's Airflow plugin (the published-pipeline endpoint) into"
        " Airflow's plugins folder",
    )
    p.add_argument("--plugins-folder", default=None, help="Airflow's [core] plugins_folder")
    p.set_defaults(func=_cmd_install_plugin)

    p = sub.add_parser("publish", help="unpause a deployed pipeline, recording its version")
    p.add_argument("name")
    p.add_argument("--version", dest="version", default=None)
    p.add_argument("--description", default=None)
    p.set_defaults(func=_cmd_publish)

    for name, text in (("enable", "unpause a DAG"), ("disable", "pause a DAG")):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(func=_cmd_pause)

    p = sub.add_parser("trigger", help="start a run of a deployed pipeline")
    p.add_argument("name")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--body", default=None, help="an Azure ML published-pipeline REST body")
    p.add_argument("--regenerate-outputs", action="store_true")
    _continue_option(p)
    p.add_argument("--run-id", default=None, help="idempotent: the same id starts one run")
    p.add_argument("--wait", action="store_true", help="follow the run; exit 1 if it fails")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="with --wait: give up following after S seconds (the run carries on)",
    )
    p.add_argument(
        "--unpause",
        action="store_true",
        help="enable (unpause) a paused pipeline first; without it a paused one is refused",
    )
    p.set_defaults(func=_cmd_trigger)

    p = sub.add_parser("runs", help="recent runs of a pipeline")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=25)
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("status", help="each step of a run: state, duration, reuse, metrics")
    p.add_argument("name")
    p.add_argument("run")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("logs", help="the log of one step of a run")
    p.add_argument("name")
    p.add_argument("run")
    p.add_argument("step")
    p.set_defaults(func=_cmd_logs)

    p = sub.add_parser("cancel", help="stop a run (marks it failed)")
    p.add_argument("name")
    p.add_argument("run")
    p.set_defaults(func=_cmd_cancel)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="amlcompile",
        description="Compile Azure ML SDK v1-style pipelines to Apache Airflow 3 DAGs.",
    )
    top.add_argument("--version", action="version", version=f"amlcompile {__version__}")
    top.add_argument("--verbose", "-v", action="store_true", help="show tracebacks and logs")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate pipelines; report every error at once")
    p.add_argument("paths", nargs="+", type=Path)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("build", help="write one DAG file per pipeline into dags_out/")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: dags_out)")
    p.add_argument("--template", type=Path, default=None, help="a replacement DAG template")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("run", help="compile and run one pipeline in an embedded Airflow")
    p.add_argument("pipeline", help="a pipeline file (with one pipeline) or a pipeline name")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter (repeatable)",
    )
    p.add_argument(
        "--regenerate-outputs",
        action="store_true",
        help="run every step even when a reusable result exists (refreshes the records)",
    )
    _continue_option(p)
    p.add_argument(
        "--local",
        action="store_true",
        help="run every Python or command step on this machine, whatever its compute",
    )
    p.add_argument(
        "--airflow",
        action="store_true",
        help="start an Airflow run even when every step would be reused (by default such a"
        " run is reported from the reuse records without starting Airflow)",
    )
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "migrate", help="rewrite Azure ML SDK v1 scripts and notebooks (azureml.*) to amlcompile"
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file would change"
    )
    p.add_argument("--diff", action="store_true", help="print a unified diff of each change")
    p.set_defaults(func=_cmd_migrate)
    _add_lifecycle_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.verbose:
        warnings.simplefilter("default")
    try:
        return args.func(args)
    except BuildError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} error(s); nothing was written", file=sys.stderr)
        return 2
    except (ConfigError, AmlCompileError) as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: one line, the traceback with --verbose
        if args.verbose:
            traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
