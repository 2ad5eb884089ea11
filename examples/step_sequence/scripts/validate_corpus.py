"""Check the downloaded corpus before anything reads it: UTF-8 text files, none empty."""

import os
import sys

folder = sys.argv[1] if len(sys.argv) > 1 else "corpus"
names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
if not names:
    sys.exit(f"no .txt files in {folder!r}")
for name in names:
    with open(os.path.join(folder, name), encoding="utf-8") as fh:  # raises on bad UTF-8
        text = fh.read()
    if not text.strip():
        sys.exit(f"{name} is empty")
    print(f"ok {name}: {len(text)} characters")
print(f"corpus valid: {len(names)} documents in ./{folder}")
