"""gitignore semantics of .amlignore, both evaluation paths (with and without `!` rules)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from amlcompile import snapshot
from amlcompile.ignore_rules import IgnoreRules

PATHS = [
    ("a.log", False),
    ("sub/a.log", False),
    ("scratch", True),
    ("x/scratch", True),
    ("scratch", False),
    ("build/out.bin", False),
    ("src/build/x", False),
    ("deep/a/b/c.tmp", False),
    ("keep.py", False),
    ("notes.txt", False),
]
RULES = ["*.log", "scratch/", "/build/", "**/b/*.tmp", "notes.txt"]


def slow(rules: IgnoreRules, path: str, is_dir: bool) -> bool:
    result = False
    for regex, negate, dir_only in rules.rules:
        if (not dir_only or is_dir) and regex.match(path):
            result = not negate
    return result


@pytest.mark.parametrize("path,is_dir", PATHS)
def test_combined_regex_agrees_with_rule_by_rule(path, is_dir):
    rules = IgnoreRules(RULES)
    assert rules._combined is not None
    assert rules.ignored(path, is_dir) == slow(rules, path, is_dir)


def test_expected_decisions_and_negation():
    rules = IgnoreRules(RULES)
    assert rules.ignored("sub/a.log", False) and rules.ignored("x/scratch", True)
    assert not rules.ignored("scratch", False)  # `scratch/` matches folders only
    assert rules.ignored("build", True) and not rules.ignored("src/build", True)  # anchored
    assert rules.ignored("deep/a/b/c.tmp", False) and not rules.ignored("keep.py", False)
    negated = IgnoreRules([*RULES, "!important.log"])
    assert negated._combined is None
    assert negated.ignored("a.log", False) and not negated.ignored("important.log", False)


# ---- the same files as git: `git ls-files --others --exclude-standard` is the oracle ----

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git_keeps(root: Path) -> list[str]:
    """The files git would add in `root` (a fresh repository), with only root/.gitignore."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if not (root / ".git").exists():
        subprocess.run([GIT, "init", "-q", str(root)], check=True, env=env)
    out = subprocess.run(
        [GIT, "-c", "core.excludesFile=" + os.devnull, "-c", "core.quotePath=false", "-C"]
        + [str(root), "ls-files", "-z", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        env=env,
    ).stdout
    return sorted(p for p in out.decode().split("\0") if p)


def snapshot_keeps(root: Path) -> list[str]:
    return [rel for rel, _, _ in snapshot._walk(root).files]


def make_tree(root: Path, files: list[str], rules: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (root / ".gitignore").write_text("".join(line + "\n" for line in rules))


# The issue's cases, and the rules of gitignore(5) one by one.
TABLE = [
    (["abc/**", "!abc/keep.py"], ["abc/keep.py", "abc/x.py", "abc/sub/keep.py", "top.py"]),
    (["abc/", "!abc/keep.py"], ["abc/keep.py", "abc/x.py", "top.py"]),
    (["abc", "!abc/keep.py"], ["abc/keep.py", "x/abc", "top.py"]),
    (["foo\\ "], ["foo ", "foo", "sub/foo "]),
    (["bar  "], ["bar", "bar  "]),
    (["\\[x\\]"], ["[x]", "x", "sub/[x]"]),
    (["[x]"], ["[x]", "x", "y"]),
    (["\\#c", "\\!d", "#e"], ["#c", "!d", "#e", "e"]),
    (["*", "!*/", "!*.py"], ["a.py", "a.txt", "src/b.py", "src/b.txt"]),
    (["*.log", "!keep.log", "sub/"], ["a.log", "keep.log", "x/keep.log", "sub/keep.log", "x/sub"]),
    (["/build/", "**/b/*.tmp"], ["build/x", "src/build/x", "deep/a/b/c.tmp", "b/c.tmp"]),
    (["a/**/b"], ["a/b", "a/x/b", "a/x/y/b/z", "c/a/b"]),
    (["abc/**/", "!keep"], ["abc/top.py", "abc/sub/x.py", "abc/sub/keep"]),
    (["*/", "!src/"], ["top.py", "src/a.py", "src/sub/b.py", "lib/c.py"]),
    (["x\\"], ["x\\", "x"]),
    (["foo\\   ", "a\\ \\ "], ["foo ", "foo", "a  ", "a "]),
    (["[a-"], ["[a-", "a"]),
    (["a\\/b", "\\/c", "!\\/a"], ["a/b", "c", "a/c"]),
    (["/*", "!/src"], ["top.py", "src/a.py", "lib/b.py"]),
    (["a?c", "[!a]bc"], ["abc", "xbc", "ac", "a/c"]),
]


@needs_git
@pytest.mark.parametrize("rules, files", TABLE, ids=[" | ".join(r) for r, _ in TABLE])
def test_same_files_as_git(tmp_path, rules, files):
    make_tree(tmp_path, files, rules)
    expected = git_keeps(tmp_path)
    assert snapshot_keeps(tmp_path) == expected


def test_the_issue_case_keeps_the_re_included_file(tmp_path):
    make_tree(tmp_path, ["abc/keep.py", "abc/x.py"], ["abc/**", "!abc/keep.py"])
    assert snapshot_keeps(tmp_path) == [".gitignore", "abc/keep.py"]


_segments = st.sampled_from(
    ["a", "b", "abc", "keep.py", "x.log", "foo ", "[x]", "sub", "a b", "#c", "!d", ".h", "build"]
)
_pattern_parts = st.sampled_from(
    [
        "a",
        "b",
        "abc",
        "keep.py",
        "*.log",
        "*",
        "**",
        "?",
        "[ab]",
        "[!a]*",
        "sub",
        "foo\\ ",
        "\\[x\\]",
        "\\#c",
        "\\!d",
        "build",
        "x*",
        "*.py",
        "a b",
        "foo\\   ",
        "[a-",
        "a\\",
        "[]x]",
        "*b*",
        "a\\/a",
        "\\/b",
        "b\\/",
    ]
)


@st.composite
def _rules(draw):
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        parts = draw(st.lists(_pattern_parts, min_size=1, max_size=3))
        line = "/".join(parts)
        if draw(st.booleans()):
            line = "/" + line
        if draw(st.booleans()):
            line += "/"
        if draw(st.integers(0, 3)) == 0:
            line = "!" + line
        if draw(st.integers(0, 5)) == 0:
            line += "  "  # unescaped trailing spaces are not part of the pattern
        # Not supported: a bracket expression holding a `/` (`[a-/[]x]`), which git reads as
        # one class and pathspec splits at the slash.
        assume(not re.search(r"\[[^\]]*/", line))
        lines.append(line)
    return lines


@needs_git
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(_segments, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8),
    _rules(),
)
def test_same_files_as_git_on_generated_trees(tmp_path_factory, files, rules):
    root = tmp_path_factory.mktemp("tree")
    # a path cannot be both a file and a folder: keep the first of two that clash
    kept: list[str] = []
    for rel in files:
        clash = any(rel == k or rel.startswith(k + "/") or k.startswith(rel + "/") for k in kept)
        if not clash:
            kept.append(rel)
    make_tree(root, kept, rules)
    assert snapshot_keeps(root) == git_keeps(root), (kept, rules)


def test_pathspec_is_a_declared_and_pinned_dependency():
    """The compiler imports pathspec: a compiler-only install (no Airflow, which brings it
    along) must get it, at the version the differential tests ran with."""
    import tomllib

    from tests.conftest import REPO

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"pathspec\b", d) for d in deps), deps
    pins = (REPO / "constraints" / "constraints-3.11.txt").read_text().splitlines()
    assert any(line.startswith("pathspec==") for line in pins)
