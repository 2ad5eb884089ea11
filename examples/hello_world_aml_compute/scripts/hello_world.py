"""Hello World: run the code cells of hello_world.ipynb with the greeting pipeline parameter.

Papermill style: after the cell tagged `parameters` runs, the pipeline's values replace it.
"""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--greeting", required=True, help="the greeting pipeline parameter")
args = parser.parse_args()

# The step runs in a copy of its code snapshot: the notebook is here, scratch/ is not.
snapshot = sorted(os.listdir("."))
print("snapshot files:", snapshot)
print("scratch/ excluded by .amlignore:", "scratch" not in snapshot)

with open("hello_world.ipynb", encoding="utf-8") as fh:
    notebook = json.load(fh)
namespace = {}
code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
for cell in code_cells:
    exec("".join(cell["source"]), namespace)
    if "parameters" in cell["metadata"].get("tags", []):
        namespace["greeting"] = args.greeting  # injected parameters
print(f"ran {len(code_cells)} code cells of hello_world.ipynb (nbformat {notebook['nbformat']})")
print(f"greeting (pipeline parameter) = {args.greeting!r}")
print(namespace["message"])
