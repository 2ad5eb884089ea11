"""`AdlaStep`: a U-SQL script submitted to Azure Data Lake Analytics with the Azure CLI.

Microsoft retired Data Lake Analytics in 2024; the step compiles faithfully for accounts and
emulations that still answer `az dla job submit`.
"""

from __future__ import annotations

from .steps import PipelineStep
from .warnings import ordered


class AdlaStep(PipelineStep):
    _kind = "adla"

    def __init__(
        self,
        script_name,
        name=None,
        inputs=None,
        outputs=None,
        params=None,
        degree_of_parallelism=None,
        priority=None,
        runtime_version=None,
        compute_target=None,
        source_directory=None,
        allow_reuse=True,
        version=None,
        hash_paths=None,
    ):
        super().__init__(
            name,
            inputs,
            outputs,
            None,
            compute_target,
            source_directory,
            allow_reuse,
            version,
            None,
            None,
        )
        self.script_name = script_name
        # U-SQL `@name` parameters; kept apart from `params` (environment) of other steps.
        self.usql_params = dict(params or {})
        self.degree_of_parallelism = degree_of_parallelism
        self.priority = priority
        self.runtime_version = runtime_version
        self.hash_paths = list(ordered(hash_paths, "AdlaStep", "hash_paths") or [])
