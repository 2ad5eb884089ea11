"""Write a corpus sample, read from the pinned commit of its repository's snapshot, to a folder.

    python -m tests.corpus.materialize SAMPLE DEST     # one sample, original relative layout
    python -m tests.corpus.materialize --all DEST      # every sample, DEST/<sample>/

The samples' files are not committed here: they are read from the bare git snapshots under
/work/.mirror/ (see README.md). Nothing is fetched from the network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.corpus.samples import REPOS, SAMPLES

TITANIC = (
    "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    '1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n'
    '2,1,1,"Cumings, Mrs. John Bradley",female,38,1,0,PC 17599,71.2833,C85,C\n'
)
SEEDS = {"TITANIC": TITANIC}


def mirror_available(sample: str) -> str | None:
    """Why the sample cannot be read, or None."""
    repo = REPOS[SAMPLES[sample]["repo"]]
    if not Path(repo["mirror"]).is_dir():
        return f"no snapshot of {SAMPLES[sample]['repo']} at {repo['mirror']}"
    ok = subprocess.run(
        ["git", "--git-dir", repo["mirror"], "cat-file", "-e", repo["commit"] + "^{commit}"],
        capture_output=True,
    )
    return None if ok.returncode == 0 else f"commit {repo['commit']} not in {repo['mirror']}"


def materialize(sample: str, dest: Path) -> Path:
    spec = SAMPLES[sample]
    repo = REPOS[spec["repo"]]
    dest.mkdir(parents=True, exist_ok=True)
    for rel in spec["files"]:
        path = f"{spec['base']}/{rel}" if spec["base"] else rel
        blob = subprocess.run(
            ["git", "--git-dir", repo["mirror"], "show", f"{repo['commit']}:{path}"],
            capture_output=True,
            check=True,
        ).stdout
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    return dest


def seed_datastores(sample: str, project: Path) -> None:
    """Data an earlier notebook of the series uploaded (what the user's workspace already has)."""
    for rel, key in SAMPLES[sample].get("seed_datastore", {}).items():
        target = project / ".amlcompile" / "datastores" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(SEEDS.get(key, key))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    names = list(SAMPLES) if argv[0] == "--all" else [argv[0]]
    for name in names:
        dest = Path(argv[1]) / name if argv[0] == "--all" else Path(argv[1])
        why = mirror_available(name)
        if why:
            print(f"skip {name}: {why}", file=sys.stderr)
            continue
        materialize(name, dest)
        print(f"{name} → {os.fspath(dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
