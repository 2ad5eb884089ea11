"""`from azureml_user.parallel_run import EntryScript`, as a ParallelRunStep's entry script
writes it: its logger, the step's output folder and working folder (amlcompile_parallel.py
sets them for each mini-batch task)."""

from __future__ import annotations

import logging
import os

OUTPUT_DIR_ENV = "AMLCOMPILE_PRS_OUTPUT_DIR"
LOG_LEVEL_ENV = "AMLCOMPILE_PRS_LOG_LEVEL"


class EntryScript:
    """What the entry script may ask of the run it is in."""

    def __init__(self):
        self.logger = logging.getLogger("azureml_user.parallel_run")
        if not self.logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
            self.logger.addHandler(handler)
        self.logger.setLevel(os.environ.get(LOG_LEVEL_ENV, "INFO"))

    @property
    def output_dir(self) -> str:
        """Where the entry script writes files of its own (summary_only); kept per mini-batch
        and merged into the step's output."""
        return os.environ.get(OUTPUT_DIR_ENV) or os.getcwd()

    @property
    def working_dir(self) -> str:
        return os.getcwd()

    @property
    def log_dir(self) -> str:
        return os.getcwd()

    agent_name = "amlcompile"
    node_id = 0
    process_name = "0"


__all__ = ["EntryScript"]
