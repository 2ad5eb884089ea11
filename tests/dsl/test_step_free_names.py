"""A @step function's free names (issue 19): what its body reads from its module travels with
it (imports, module-level functions, classes and literal constants of the same file), and
what cannot travel is refused at build time with file:line, not a NameError at run time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from amlcompile.compiler import check
from amlcompile.exceptions import BuildError

HELPERS = """\
import json
import os

from amlcompile import Output, pipeline, step

SCALE = 3
NAMES: tuple = ("a", "b")


def _double(x):
    return x * SCALE + count()


def count():
    return len(NAMES)


class Acc:
    factor = SCALE

    def add(self, x):
        return _double(x) * self.factor


def round(x, digits=0):  # shadows the builtin: the file's own travels
    return int(x)


def unused_helper():
    return undefined_elsewhere


@step
def produce(out: Output, n: int = 2):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "v.json"), "w") as fh:
        json.dump([Acc().add(n), sorted(NAMES), round(2.7)], fh)


@pipeline()
def free_names():
    produce()


if __name__ == "__main__":
    print("run as a script too")
"""


def test_module_level_helpers_travel_with_the_step_and_run(project, tmp_path):
    project.write("pipe.py", HELPERS)
    (compiled,) = check([project.root / "pipe.py"])
    script = dict(compiled.pipeline.step("produce").snapshot.generated)[
        "_amlcompile_step_produce.py"
    ]
    # In file order, each once; what the step does not use stays behind.
    order = [script.index(x) for x in ("SCALE = 3", "NAMES: tuple", "def _double", "def count")]
    assert order == sorted(order)
    assert "class Acc:" in script and "unused_helper" not in script and "def round(" in script
    assert "amlcompile" not in script.split("\n", 1)[1]  # only the header names it
    assert script.count("def count") == 1
    out = tmp_path / "out"
    step = tmp_path / "step.py"
    step.write_text(script)
    proc = subprocess.run(
        [sys.executable, str(step), "--out", str(out), "--n", "5"],
        cwd=tmp_path,  # no project on sys.path: the script stands alone
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "v.json").read_text() == '[51, ["a", "b"], 2]'  # round: the file's own


def test_deterministic(project):
    project.write("pipe.py", HELPERS)
    first = check([project.root / "pipe.py"])[0].pipeline.step("produce").snapshot
    second = check([project.root / "pipe.py"])[0].pipeline.step("produce").snapshot
    assert first.generated == second.generated and first.id == second.id


BAD = """\
from amlcompile import Output, Workspace, pipeline, step

ws = Workspace.from_config()
COMPUTED = len("ab") * 2
TWICE = 1
TWICE = 2


def helper():
    pass


@step
def other(out: Output):
    pass


@step
def bad(out: Output, n: int = COMPUTED):
    print(TWICE, ws)
    helpr()
    Workspace()
    other(out)
    print(undefined_thing)


@pipeline()
def bad_names():
    bad()
"""


def test_what_cannot_travel_is_refused_with_file_and_line(project):
    project.write("pipe.py", BAD)
    with pytest.raises(BuildError) as err:
        check([project.root / "pipe.py"])
    problems = sorted(str(p) for p in err.value.problems)
    assert problems == [
        "pipe.py:19: @step 'bad' uses 'COMPUTED', a module-level value (line 4) that is not a"
        " literal; only this file's imports, functions, classes and literal constants travel"
        " with a step: pass it as a parameter or compute it inside the function",
        "pipe.py:20: @step 'bad' uses 'TWICE', which this file sets more than once (lines 5,"
        " 6); only a name set once (a function, class or literal constant) travels with a step",
        "pipe.py:20: @step 'bad' uses 'ws', a module-level value (line 3) that is not a literal;"
        " only this file's imports, functions, classes and literal constants travel with a"
        " step: pass it as a parameter or compute it inside the function",
        "pipe.py:21: @step 'bad' uses 'helpr', which is not defined (did you mean 'helper'?)",
        "pipe.py:22: @step 'bad' uses 'Workspace', imported from amlcompile, which is not"
        " installed where steps run (a step gets plain paths and values; Run is in"
        " amlcompile_run)",
        "pipe.py:23: @step 'bad' uses 'other', a @step or @pipeline function; inside a step,"
        " call a plain function (move the shared code into a helper both use)",
        "pipe.py:24: @step 'bad' uses 'undefined_thing', which is not defined",
    ]


def test_step_in_a_script_run_as_main_ships_its_own_imports(project):
    """A file guarded by `if __name__ == "__main__":` runs as __main__ during the build; its
    step's imports are its own file's, not those of whatever is __main__ afterwards."""
    project.write("pipe.py", HELPERS + "\nimport csv  # noqa\n")
    (compiled,) = check([project.root / "pipe.py"])
    script = dict(compiled.pipeline.step("produce").snapshot.generated)[
        "_amlcompile_step_produce.py"
    ]
    assert "import json\nimport os\nimport csv\n" in script
    assert "argparse\nimport argparse" not in script
