"""`DatabricksStep` and its library classes, with the SDK v1 arguments (names, order, defaults)."""

from __future__ import annotations

from .steps import PipelineStep
from .warnings import ignored, ordered


class MavenLibrary:
    def __init__(self, coordinates, repo=None, exclusions=None):
        self.coordinates, self.repo, self.exclusions = coordinates, repo, list(exclusions or [])

    def _json(self) -> dict:
        spec = {"coordinates": self.coordinates}
        if self.repo:
            spec["repo"] = self.repo
        if self.exclusions:
            spec["exclusions"] = list(self.exclusions)
        return {"maven": spec}


class PyPiLibrary:
    def __init__(self, package, repo=None):
        self.package, self.repo = package, repo

    def _json(self) -> dict:
        return {"pypi": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


class RCranLibrary:
    def __init__(self, package, repo=None):
        self.package, self.repo = package, repo

    def _json(self) -> dict:
        return {"cran": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


class JarLibrary:
    def __init__(self, library):
        self.library = library

    def _json(self) -> dict:
        return {"jar": self.library}


class EggLibrary:
    def __init__(self, library):
        self.library = library

    def _json(self) -> dict:
        return {"egg": self.library}


class DatabricksStep(PipelineStep):
    """A notebook, Python script or JAR run on Databricks (`DatabricksSubmitRunOperator`).

    Inputs and outputs reach the job as storage URIs: as notebook parameters named after the
    data for notebooks, as `-<name> <uri>` pairs for scripts and JARs, as Azure ML did.
    """

    _kind = "databricks"

    def __init__(
        self,
        name,
        inputs=None,
        outputs=None,
        existing_cluster_id=None,
        spark_version=None,
        node_type=None,
        instance_pool_id=None,
        num_workers=None,
        min_workers=None,
        max_workers=None,
        spark_env_variables=None,
        spark_conf=None,
        init_scripts=None,
        cluster_log_dbfs_path=None,
        notebook_path=None,
        notebook_params=None,
        python_script_path=None,
        python_script_params=None,
        main_class_name=None,
        jar_params=None,
        python_script_name=None,
        source_directory=None,
        hash_paths=None,
        run_name=None,
        timeout_seconds=None,
        runconfig=None,
        maven_libraries=None,
        pypi_libraries=None,
        egg_libraries=None,
        jar_libraries=None,
        rcran_libraries=None,
        compute_target=None,
        allow_reuse=True,
        version=None,
        permit_cluster_restart=None,
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
            runconfig,
        )
        ignored(
            "DatabricksStep", runconfig=runconfig, permit_cluster_restart=permit_cluster_restart
        )
        self.existing_cluster_id = existing_cluster_id
        self.spark_version = spark_version
        self.node_type = node_type
        self.instance_pool_id = instance_pool_id
        self.num_workers = num_workers
        self.min_workers = min_workers
        self.max_workers = max_workers
        self.spark_env_variables = dict(spark_env_variables or {})
        self.spark_conf = dict(spark_conf or {})
        self.init_scripts = list(init_scripts or [])
        self.cluster_log_dbfs_path = cluster_log_dbfs_path
        self.notebook_path = notebook_path
        self.notebook_params = dict(notebook_params or {})
        self.python_script_path = python_script_path
        self.python_script_params = list(
            ordered(python_script_params, "DatabricksStep", "python_script_params") or []
        )
        self.main_class_name = main_class_name
        self.jar_params = list(ordered(jar_params, "DatabricksStep", "jar_params") or [])
        self.python_script_name = python_script_name
        self.hash_paths = list(ordered(hash_paths, "DatabricksStep", "hash_paths") or [])
        self.run_name = run_name
        self.timeout_seconds = timeout_seconds
        self.libraries = [
            *(maven_libraries or []),
            *(pypi_libraries or []),
            *(egg_libraries or []),
            *(jar_libraries or []),
            *(rcran_libraries or []),
        ]
