"""gitignore semantics of .amlignore, both evaluation paths (with and without `!` rules)."""

from __future__ import annotations

import pytest

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
