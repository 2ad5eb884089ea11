"""The Airflow plugin amlcompile installs beside the DAGs (one self-contained file).

`amlcompile_plugin.py` is copied as is into Airflow's plugins folder by `amlcompile deploy`
(when `[airflow] plugins_folder` is set) or `amlcompile install-plugin`; it imports nothing of
amlcompile. Its pure functions (the Azure ML body → conf mapping) are also used by the CLI.
"""

from pathlib import Path

PLUGIN_FILE = Path(__file__).resolve().parent / "amlcompile_plugin.py"
