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
from .text import plural

# Exit codes (also in README.md): 0 success; 1 a run or a deploy failed, or `--check` found
# something to change; 2 the user's input is wrong (pipelines, config, arguments); 3 a bug of
# ours ("internal error"); 4 `migrate` left items to do by hand that would fail a build;
# 130 interrupted.
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _cmd_check(args) -> int:
    from .compiler import check

    compiled = check(args.paths)
    for c in compiled:
        steps = plural(len(c.pipeline.steps), "step")
        print(f"ok  {c.pipeline.name}  ({steps}, {c.pipeline.source_file})")
    return 0


def _cmd_build(args) -> int:
    from .compiler import build

    result = build(args.paths, out_dir=args.out, template=args.template, progress=_progress)
    for c in result.compiled:
        steps = plural(len(c.pipeline.steps), "step")
        print(f"built  {result.out_dir / (c.pipeline.name + '.py')}  ({steps})")
    changes = result.changes
    _print_notes(changes)
    print(
        f"{plural(len(changes['written']), 'file')} written, {len(changes['unchanged'])}"
        f" unchanged, {len(changes['removed'])} removed in {result.out_dir}"
    )
    return 0


def _progress(line: str) -> None:
    """Long work (hashing or writing thousands of files) says what it is doing, on stderr."""
    print(line, file=sys.stderr, flush=True)


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
    from . import credentials
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
        secrets=credentials.known_secrets([cfg]),
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
        line += (
            " (restart Airflow's api-server and scheduler to load it: plugins load when they start)"
        )
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


_PARAM_HELP = (
    "set a pipeline parameter for this run, NAME=VALUE (repeatable); the value is read as the"
    " parameter's type (integer, number, true/false, text)"
)


def _sub(sub, common, name: str, help: str, epilog: str, description: str | None = None):
    """A subcommand with `--verbose` (also accepted after the subcommand) and examples."""
    return sub.add_parser(
        name,
        help=help,
        description=description or help[0].upper() + help[1:] + ".",
        epilog="examples:\n" + epilog.rstrip(),
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_lifecycle_commands(sub, common) -> None:
    p = _sub(
        sub,
        common,
        "deploy",
        "copy dags_out/ into Airflow's DAGs folder and wait until Airflow has parsed it",
        "  amlcompile deploy                      # [airflow] dags_folder from amlcompile.toml\n"
        "  amlcompile deploy --dags-folder /opt/airflow/dags --timeout 600\n"
        "Needs [airflow] url in the config and $AIRFLOW_USERNAME/$AIRFLOW_PASSWORD (or\n"
        "$AIRFLOW_TOKEN); the build's uploads are made first (docs/lifecycle.md).",
    )
    p.add_argument(
        "--dags-folder",
        default=None,
        metavar="DIR",
        help="Airflow's DAGs folder (default: [airflow] dags_folder of the config)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for Airflow to parse the DAGs (default: %(default)s)",
    )
    p.add_argument(
        "--reserialize",
        action="store_true",
        help="on the Airflow host: parse new files now (airflow dags reserialize)",
    )
    p.add_argument(
        "--plugins-folder",
        default=None,
        metavar="DIR",
        help="Airflow's plugins folder: install amlcompile's REST plugin there too",
    )
    p.set_defaults(func=_cmd_deploy)

    p = _sub(
        sub,
        common,
        "install-plugin",
        "copy amlcompile's Airflow plugin (the published-pipeline endpoint) into Airflow's"
        " plugins folder",
        "  amlcompile install-plugin --plugins-folder /opt/airflow/plugins\n"
        "Restart Airflow's api-server afterwards: plugins load when it starts.",
    )
    p.add_argument(
        "--plugins-folder",
        default=None,
        metavar="DIR",
        help="Airflow's [core] plugins_folder (default: [airflow] plugins_folder of the config)",
    )
    p.set_defaults(func=_cmd_install_plugin)

    name_help = "the pipeline's DAG id (as `amlcompile build` printed it)"
    p = _sub(
        sub,
        common,
        "publish",
        "unpause a deployed pipeline, recording its version",
        '  amlcompile publish My_Published_Pipeline --version 1.0 --description "nightly"',
    )
    p.add_argument("name", metavar="PIPELINE", help=name_help)
    p.add_argument(
        "--version", dest="version", default=None, help="a version label to record, e.g. 1.0"
    )
    p.add_argument("--description", default=None, help="a description to record with it")
    p.set_defaults(func=_cmd_publish)

    for name, text in (
        ("enable", "unpause a deployed pipeline (its schedule and triggers run again)"),
        ("disable", "pause a deployed pipeline (no new scheduled or triggered runs start)"),
    ):
        p = _sub(sub, common, name, text, f"  amlcompile {name} My_Published_Pipeline")
        p.add_argument("name", metavar="PIPELINE", help=name_help)
        p.set_defaults(func=_cmd_pause)

    p = _sub(
        sub,
        common,
        "trigger",
        "start a run of a deployed pipeline",
        "  amlcompile trigger My_Published_Pipeline --param pipeline_arg=20 --wait\n"
        "  amlcompile trigger My_Published_Pipeline --body request.json --run-id nightly-1\n"
        "  amlcompile trigger My_Published_Pipeline --unpause --wait --timeout 3600",
    )
    p.add_argument("name", metavar="PIPELINE", help=name_help)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
    p.add_argument(
        "--body",
        default=None,
        metavar="FILE",
        help="a JSON file with an Azure ML published-pipeline REST body"
        ' ({"ExperimentName": ..., "ParameterAssignments": {...}})',
    )
    p.add_argument(
        "--regenerate-outputs",
        action="store_true",
        help="run every step even when a reusable result exists (refreshes the records)",
    )
    _continue_option(p)
    p.add_argument(
        "--run-id",
        default=None,
        help="the run's id; idempotent: triggering the same id again starts no second run",
    )
    p.add_argument("--wait", action="store_true", help="follow the run; exit 1 if it fails")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --wait: give up following after this long (the run carries on)",
    )
    p.add_argument(
        "--unpause",
        action="store_true",
        help="enable (unpause) a paused pipeline first; without it a paused one is refused",
    )
    p.set_defaults(func=_cmd_trigger)

    p = _sub(
        sub,
        common,
        "runs",
        "list the recent runs of a deployed pipeline",
        "  amlcompile runs My_Published_Pipeline --limit 5",
    )
    p.add_argument("name", metavar="PIPELINE", help=name_help)
    p.add_argument(
        "--limit", type=int, default=25, help="how many runs, newest first (default: %(default)s)"
    )
    p.set_defaults(func=_cmd_runs)

    run_help = "the run id (see `amlcompile runs PIPELINE`)"
    p = _sub(
        sub,
        common,
        "status",
        "show each step of a run: state, duration, reuse, metrics",
        "  amlcompile status My_Published_Pipeline manual__2026-11-24T01:47:34+00:00",
    )
    p.add_argument("name", metavar="PIPELINE", help=name_help)
    p.add_argument("run", metavar="RUN_ID", help=run_help)
    p.set_defaults(func=_cmd_status)

    p = _sub(
        sub,
        common,
        "logs",
        "print the log of one step of a run",
        "  amlcompile logs My_Published_Pipeline nightly-1 train",
    )
    p.add_argument("name", metavar="PIPELINE", help=name_help)
    p.add_argument("run", metavar="RUN_ID", help=run_help)
    p.add_argument("step", metavar="STEP", help="the step's name (its task id)")
    p.set_defaults(func=_cmd_logs)

    p = _sub(
        sub,
        common,
        "cancel",
        "stop a run (it is marked failed)",
        "  amlcompile cancel My_Published_Pipeline nightly-1",
    )
    p.add_argument("name", metavar="PIPELINE", help=name_help)
    p.add_argument("run", metavar="RUN_ID", help=run_help)
    p.set_defaults(func=_cmd_cancel)


_PATHS_HELP = (
    "pipeline files (.py), notebooks (.ipynb) or folders; a folder is searched for files"
    " that make pipelines (tests/, virtual environments, build and hidden folders skipped)"
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="amlcompile",
        description="Compile Azure ML SDK v1-style pipelines to Apache Airflow 3 DAGs.",
        epilog="examples:\n"
        "  amlcompile build examples/\n"
        "  amlcompile run examples/seed_compare_models/pipeline.py --param pipeline_arg=20\n"
        "  amlcompile COMMAND --help      # each command's arguments, with examples\n"
        "exit codes: 0 ok; 1 a run or deploy failed, or --check found changes; 2 bad input;\n"
        "3 internal error; 4 migrate left items to do by hand; 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"amlcompile {__version__}")
    verbose_help = "show tracebacks and the embedded Airflow's log"
    top.add_argument("--verbose", "-v", action="store_true", help=verbose_help)
    # The same flag after the subcommand (`amlcompile build -v x.py`); SUPPRESS keeps a
    # --verbose given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=verbose_help
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(
        sub,
        common,
        "check",
        "validate pipelines; report every error at once (exit 2 on errors)",
        "  amlcompile check pipeline.py\n  amlcompile check examples/ notebooks/train.ipynb",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=_PATHS_HELP)
    p.set_defaults(func=_cmd_check)

    p = _sub(
        sub,
        common,
        "build",
        "write one DAG file per pipeline into dags_out/",
        "  amlcompile build examples/\n"
        "  amlcompile build pipeline.py --out /opt/airflow/dags\n"
        "  amlcompile build pipeline.py --template my_dag.py.j2\n"
        "dags_out/ is relative to the project root: the folder of amlcompile.toml or\n"
        "pyproject.toml above the pipeline file, else the working directory.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=_PATHS_HELP)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: dags_out in amlcompile.toml, else dags_out/)",
    )
    p.add_argument(
        "--template",
        type=Path,
        default=None,
        metavar="FILE",
        help="a Jinja2 DAG template to use instead of amlcompile's (start from a copy of"
        " amlcompile/templates/dag.py.j2)",
    )
    p.set_defaults(func=_cmd_build)

    p = _sub(
        sub,
        common,
        "run",
        "compile and run one pipeline in an embedded Airflow",
        "  amlcompile run examples/seed_compare_models/pipeline.py --param pipeline_arg=20\n"
        "  amlcompile run My_Published_Pipeline           # by name, found under the working"
        " directory\n"
        "  amlcompile run pipeline.py --local --regenerate-outputs",
    )
    p.add_argument(
        "pipeline",
        metavar="PIPELINE",
        help="a pipeline file (holding one pipeline) or a pipeline's name (its DAG id), looked"
        " for under the working directory",
    )
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
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

    p = _sub(
        sub,
        common,
        "migrate",
        "rewrite Azure ML SDK v1 scripts and notebooks (azureml.*) to amlcompile",
        "  amlcompile migrate --diff src/     # preview: print the changes, write nothing\n"
        "  amlcompile migrate src/ notebooks/ # rewrite the files in place\n"
        "  amlcompile migrate --check src/    # CI: exit 1 when a file would change\n"
        "exit codes: 0 done; 1 with --check, a file would change; 2 a path is missing or a\n"
        "file cannot be parsed; 4 items were left to translate by hand that would fail the\n"
        "build (listed under 'not translated').",
    )
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="FILE_OR_DIR",
        help="Python files, notebooks, or folders searched for them",
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file would change"
    )
    p.add_argument(
        "--diff",
        action="store_true",
        help="write nothing; print a unified diff of each change (a preview)",
    )
    p.set_defaults(func=_cmd_migrate)
    _add_lifecycle_commands(sub, common)
    return top


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """`file:line: Category: message`; in a notebook, `nb.ipynb:cell 7:3` (its cells are
    one source with cell N at line N x 10,000), not the source line Python would echo."""
    from .ir.models import SourceLocation

    where = SourceLocation(file=str(filename), line=int(lineno or 0))
    return f"{where}: {category.__name__}: {message}\n"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.verbose:
        warnings.simplefilter("default")
    warnings.formatwarning = _format_warning
    try:
        return args.func(args)
    except BuildError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{plural(len(exc.problems), 'error')}; nothing was written", file=sys.stderr)
        return EXIT_USER_ERROR
    except (ConfigError, AmlCompileError) as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR
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
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
