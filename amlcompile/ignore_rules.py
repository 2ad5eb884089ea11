"""`.amlignore` / `.gitignore` rules: which files of a source directory a snapshot leaves out.

gitignore syntax, as in Azure ML: `.amlignore` wins over `.gitignore` when both exist. The
patterns are git's (pathspec's GitIgnoreSpec parses them); which files they leave in is what
`git ls-files --others --exclude-standard` would list.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

# Never part of a snapshot: tool state, VCS data, caches, our own output.
ALWAYS_IGNORED = [
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".amlcompile/",
    "dags_out/",
    ".venv/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".ipynb_checkpoints/",
]


# How pathspec's GitIgnoreSpecPattern ends a regex: a directory mark that is either the end of
# the path or a `/` under which every path matches too (`abc` matches abc and abc/...), or
# a mark that must be a `/` (`abc/`: directories only).
_MARK_OR_END = "(?:(?P<ps_d>/)|$)"
_MARK = "(?P<ps_d>/)"


def _entry_rule(pattern) -> tuple[re.Pattern, bool] | None:
    """(regex matching exactly the paths the pattern names, directories only?) from one of
    pathspec's compiled patterns.

    pathspec answers for a file path with its directories folded in (its regex also matches
    everything under a matched directory); the walk here asks about each entry itself, files
    and directories, and does not enter an excluded directory, which is how git decides. So
    each regex is cut back to the entry: the directory mark becomes the end of the path.
    """
    source = pattern.regex.pattern
    if source == _MARK:  # `*/`, `**/`: every directory
        return re.compile(r"(?s:.)"), True
    if source.endswith(_MARK_OR_END):
        body, dir_only = source[: -len(_MARK_OR_END)], False
    elif source.endswith(_MARK):
        body, dir_only = source[: -len(_MARK)], True
        text = pattern.pattern.rstrip() if isinstance(pattern.pattern, str) else ""
        if text.endswith("/**/") and body.startswith("^"):
            # `abc/**/`: the directories under abc, not abc (pathspec folds it into `abc/`)
            return re.compile(body + "/.+$", re.S), True
    elif "ps_d" not in source:  # `abc/**`, `.`: a prefix; everything it reaches matches
        return re.compile(source, re.S), False
    else:
        return None
    return re.compile(body + "$", re.S), dir_only


def _trim_trailing_spaces(line: str) -> str:
    """git's trim_trailing_spaces (dir.c): trailing spaces go, unless escaped by a backslash
    (`foo\\ ` keeps one space; `foo\\   ` is `foo\\ `, which pathspec alone refuses)."""
    last_space = None
    i = 0
    while i < len(line):
        c = line[i]
        if c == " ":
            if last_space is None:
                last_space = i
        elif c == "\\":
            i += 1
            if i == len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


def _unescape_slashes(line: str) -> str | None:
    """`\\/` is a plain `/` to git (its wildmatch takes any escaped character literally);
    pathspec splits at every `/` first and then refuses the dangling backslash. None when
    the escaped slash makes a pattern no path matches (`\\/b` would need a leading `/`,
    `a/\\/b` an empty folder name; `b\\/` is `b\\` for directories, a dangling escape)."""
    if "\\/" not in line:
        return line
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            if line[i + 1] == "/":
                before = "".join(out)
                after = line[i + 2 : i + 3]
                if before in ("", "!") or before.endswith("/") or after in ("", "/"):
                    return None
                out.append("/")
            else:
                out.append(line[i : i + 2])
            i += 2
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def _parse(line: str):
    """pathspec's pattern for one line, or None (blank, comment, or invalid: git ignores an
    invalid line, e.g. one ending in a lone backslash)."""
    line = _unescape_slashes(_trim_trailing_spaces(line))
    if line is None:
        return None
    from pathspec import GitIgnoreSpec  # only where a folder has ignore rules (~0.02 s)

    try:
        spec = GitIgnoreSpec.from_lines([line])
    except (ValueError, TypeError):
        return None
    patterns = [p for p in spec.patterns if p.include is not None and p.regex is not None]
    return patterns[0] if patterns else None


@functools.lru_cache(maxsize=4096)
def _rule(line: str) -> tuple[re.Pattern, bool, bool] | None:
    """(regex, negated, directories only) of one line; cached, as every source folder's rules
    start with ALWAYS_IGNORED and parsing costs a fifth of a millisecond per line."""
    pattern = _parse(line)
    if pattern is None:
        return None
    rule = _entry_rule(pattern)
    if rule is None:  # a shape this code does not know: pathspec's own reach
        rule = re.compile(pattern.regex.pattern.replace(_MARK, "/"), re.S), False
    return rule[0], not pattern.include, rule[1]


class IgnoreRules:
    """gitignore semantics, as git applies them when it walks a tree: each entry (file or
    directory) takes the decision of the last pattern that matches it, `!` re-includes, `dir/`
    only names directories, and nothing under an excluded directory is looked at (the caller
    does not walk into a directory for which `ignored(path, True)` is true).

    Patterns are parsed by pathspec's GitIgnoreSpec (escapes, trailing spaces, brackets,
    `**`); tests/dsl/test_ignore_rules.py compares the result with `git ls-files` on
    generated trees and rules. Not supported: a bracket expression holding a `/`
    (`[a-/]`), which git reads as one class and pathspec splits at the slash.
    """

    def __init__(self, lines: list[str]):
        self.rules: list[tuple[re.Pattern, bool, bool]] = []
        for raw in lines:
            rule = _rule(raw.rstrip("\n"))
            if rule is not None:
                self.rules.append(rule)
        # Without `!` rules any match ignores: one combined regex per kind decides at once.
        self._combined = None
        if not any(negate for _, negate, _ in self.rules):
            files = [r.pattern for r, _, dir_only in self.rules if not dir_only]
            every = [r.pattern for r, _, _ in self.rules]
            self._combined = (
                re.compile("|".join(f"(?:{p})" for p in files), re.S) if files else None,
                re.compile("|".join(f"(?:{p})" for p in every), re.S) if every else None,
            )

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        if self._combined is not None:
            regex = self._combined[1 if is_dir else 0]
            return bool(regex and regex.match(relpath))
        result = False
        for regex, negate, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            if regex.match(relpath):
                result = not negate
        return result


# The files a source directory's rules come from, first found wins.
RULE_FILES = (".amlignore", ".gitignore")


def rules_for(source_dir: Path) -> IgnoreRules:
    lines = list(ALWAYS_IGNORED)
    for name in RULE_FILES:
        f = source_dir / name
        if f.is_file():
            lines += f.read_text(encoding="utf-8", errors="replace").splitlines()
            break
    return IgnoreRules(lines)
