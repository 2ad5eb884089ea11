"""A stand-in for the cluster in tests of ParallelRunStep pods (test_parallel_run_pods.py):
with AMLCOMPILE_TEST_FAKE_POD set, KubernetesPodOperator.execute runs the pod's command on
this machine, its mounts and /amlcompile folders mapped back to the worker's folders."""

import importlib.abc
import importlib.util
import os
import sys


def _fake_execute(self, context):
    import subprocess
    import tempfile

    base = type(self).__module__.rsplit(".", 1)[0]
    parallel = sys.modules[base + ".parallel"]
    storage = sys.modules[base + ".storage"]
    name = self.step["name"]
    mapping = {
        mount: str(storage.datastore_root(self.datastores, ds, name))
        for ds, mount in self.mount_paths.items()
    }
    mapping["/amlcompile/code"] = str(parallel.snapshot_folder(self.step))
    mapping["/amlcompile/lib"] = str(parallel.STEPLIB)
    mapping["/amlcompile/own"] = tempfile.mkdtemp()

    def local(text):
        for pod_path, path in mapping.items():
            text = text.replace(pod_path, path)
        return text

    job_file = local(self.arguments[0])
    with open(job_file) as fh:
        text = local(fh.read())
    with open(job_file + ".local", "w") as fh:
        fh.write(text)
    env = {e.name: local(e.value) for e in self.env_vars}
    env.update(PATH=os.environ["PATH"], RUN_LOG=os.environ.get("RUN_LOG", ""))
    driver = local(self.cmds[1])
    subprocess.run([sys.executable, driver, job_file + ".local"], env=env, check=True)


class _Finder(importlib.abc.MetaPathFinder):
    NAME = "airflow.providers.cncf.kubernetes.operators.pod"

    def find_spec(self, name, path, target=None):
        if name != self.NAME:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.KubernetesPodOperator.execute = _fake_execute

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("AMLCOMPILE_TEST_FAKE_POD"):
    sys.meta_path.insert(0, _Finder())
