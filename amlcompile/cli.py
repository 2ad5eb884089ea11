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
from .runtime.reuse import REGENERATE_PARAM


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
    print(
        f"{len(changes['written'])} files written, {len(changes['unchanged'])} unchanged,"
        f" {len(changes['removed'])} removed in {result.out_dir}"
    )
    return 0


def _cmd_run(args) -> int:
    from .local_run import parse_params, print_result, run_compiled, select

    compiled = select(args.pipeline)
    conf = parse_params(compiled.pipeline, args.param)
    if args.regenerate_outputs:
        conf[REGENERATE_PARAM] = True
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
    result = run_compiled(compiled, conf, force_local=args.local, verbose=args.verbose)
    print_result(result)
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
    p.add_argument(
        "--local",
        action="store_true",
        help="run every Python or command step on this machine, whatever its compute",
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
