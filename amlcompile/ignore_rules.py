"""`.amlignore` / `.gitignore` rules: which files of a source directory a snapshot leaves out.

gitignore syntax, as in Azure ML: `.amlignore` wins over `.gitignore` when both exist.
"""

from __future__ import annotations

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


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


class IgnoreRules:
    """gitignore semantics: last matching pattern wins, `!` re-includes, `dir/` only dirs."""

    def __init__(self, lines: list[str]):
        self.rules: list[tuple[re.Pattern, bool, bool]] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            if line.startswith("\\"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            line = line.lstrip("/")
            regex = _glob_to_regex(line)
            full = f"^{regex}$" if anchored else f"^(?:.*/)?{regex}$"
            self.rules.append((re.compile(full), negate, dir_only))
        # Without `!` rules any match ignores: one combined regex per kind decides at once.
        self._combined = None
        if not any(negate for _, negate, _ in self.rules):
            files = [r.pattern for r, _, dir_only in self.rules if not dir_only]
            every = [r.pattern for r, _, _ in self.rules]
            self._combined = (
                re.compile("|".join(f"(?:{p})" for p in files)) if files else None,
                re.compile("|".join(f"(?:{p})" for p in every)) if every else None,
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
