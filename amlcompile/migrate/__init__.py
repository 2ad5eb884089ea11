"""`amlcompile migrate`: libcst rewrites of Azure ML SDK v1 (`azureml.*`) code to amlcompile.

Needs libcst (the `migrate` extra); nothing else of amlcompile imports this package.
"""

from .run import MigrateReport, main, migrate_paths
from .transform import MigrateSyntaxError, migrate_source

__all__ = ["MigrateReport", "MigrateSyntaxError", "main", "migrate_paths", "migrate_source"]
