"""Today's Azure sizes, and a compute target's pod overrides from amlcompile.toml: what the
pod requests, where it goes, and bad overrides refused with the file and key."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check
from amlcompile.config import ConfigError, load
from amlcompile.ir import vm_sizes
from amlcompile.targets import LoweringContext, lower_step

PIPE = """\
from amlcompile import *
ws = Workspace.from_config()
gpu = ComputeTarget.create(ws, "gpu", AmlCompute.provisioning_configuration(
    vm_size="{size}", max_nodes=2))
s = PythonScriptStep("train.py", source_directory="src", compute_target=gpu)
p = Pipeline(ws, steps=[s])
"""


def pod_spec(project, size: str, config: str = "") -> dict:
    project.write("amlcompile.toml", config)
    project.script("src/train.py")
    project.write("pipe.py", PIPE.format(size=size))
    (compiled,) = check([project.root / "pipe.py"])
    step = compiled.pipeline.step("train")
    kwargs = lower_step(compiled.pipeline, step, LoweringContext(config=compiled.config)).kwargs
    return kwargs["pod_template_dict"]["spec"]


@pytest.mark.parametrize(
    "name, vcpus, memory, gpus, model",
    [
        # From Microsoft's size pages (learn.microsoft.com/azure/virtual-machines/sizes).
        ("Standard_NC24ads_A100_v4", 24, 220, 1, "A100"),
        ("Standard_NC96ads_A100_v4", 96, 880, 4, "A100"),
        ("Standard_NC40ads_H100_v5", 40, 320, 1, "H100"),
        ("Standard_NC80adis_H100_v5", 80, 640, 2, "H100"),
        ("Standard_ND96asr_v4", 96, 900, 8, "A100"),
        ("Standard_ND96isr_H100_v5", 96, 1900, 8, "H100"),
        ("Standard_NV6ads_A10_v5", 6, 55, 1, "A10 1/6"),
        ("Standard_NV36adms_A10_v5", 36, 880, 1, "A10"),
        ("Standard_NV72ads_A10_v5", 72, 880, 2, "A10"),
        ("Standard_NC4as_T4_v3", 4, 28, 1, "T4"),
        ("Standard_D4_v5", 4, 16, 0, None),
        ("Standard_D96s_v5", 96, 384, 0, None),
        ("Standard_D8ds_v5", 8, 32, 0, None),
        ("Standard_E16_v5", 16, 128, 0, None),
        ("Standard_E104is_v5", 104, 672, 0, None),
        ("Standard_F72s_v2", 72, 144, 0, None),
        ("Standard_HB120rs_v3", 120, 448, 0, None),
        ("Standard_HB120-16rs_v3", 16, 448, 0, None),
        ("Standard_HB176rs_v4", 176, 768, 0, None),
        ("Standard_HX176-48rs", 48, 1408, 0, None),
    ],
)
def test_current_sizes_have_microsofts_figures(name, vcpus, memory, gpus, model):
    found = vm_sizes.lookup(name.lower())
    assert found is not None, name
    canonical, size = found
    assert canonical == name
    assert (size.vcpus, size.memory_gib, size.gpus, size.gpu_model) == (
        vcpus,
        memory,
        gpus,
        model,
    )


def test_an_h100_size_requests_its_gpus_on_its_node_pool(project):
    spec = pod_spec(project, "Standard_NC80adis_H100_v5")
    resources = spec["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "72000m", "memory": "524288Mi", "nvidia.com/gpu": "2"}
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "Standard_NC80adis_H100_v5"}
    assert {t["key"] for t in spec["tolerations"]} == {"nvidia.com/gpu", "sku"}


def test_config_overrides_cpu_memory_gpus_and_node_selector(project):
    spec = pod_spec(
        project,
        "Standard_NC6s_v3",
        """
        [compute.gpu]
        kind = "amlcompute"
        cpu = 3.5
        memory_gib = 24
        gpus = 2
        gpu_resource = "amd.com/gpu"
        node_selector = { "agentpool" = "mi300", "example.com/tier" = "train" }
        """,
    )
    resources = spec["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "3500m", "memory": "24576Mi", "amd.com/gpu": "2"},
        "limits": {"memory": "24576Mi", "amd.com/gpu": "2"},
    }
    assert spec["nodeSelector"] == {"agentpool": "mi300", "example.com/tier": "train"}
    assert {t["key"] for t in spec["tolerations"]} == {"amd.com/gpu", "sku"}


def test_config_without_vm_size_keeps_the_scripts_size(project):
    spec = pod_spec(project, "Standard_NV36ads_A10_v5", '[compute.gpu]\nkind = "amlcompute"\n')
    assert spec["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "Standard_NV36ads_A10_v5"}


def test_empty_node_selector_and_zero_gpus_override_the_size(project):
    spec = pod_spec(
        project,
        "Standard_NC24ads_A100_v4",
        '[compute.gpu]\nkind = "amlcompute"\ngpus = 0\nnode_selector = {}\n',
    )
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["requests"]


@pytest.mark.parametrize(
    "table, message",
    [
        ('kind = "amlcompute"\ncpu = 0', "compute.gpu.cpu: Input should be greater than 0"),
        ('kind = "amlcompute"\nmemory_gib = -1', "compute.gpu.memory_gib"),
        ('kind = "amlcompute"\ngpus = 1.5', "compute.gpu.gpus"),
        ('kind = "amlcompute"\ncpu = "lots"', "compute.gpu.cpu"),
        ('kind = "databricks"\ngpus = 1', 'only apply to kind = "amlcompute"'),
        ('kind = "amlcompute"\ngpu_resource = "gpu"', "not a Kubernetes extended resource"),
        ('kind = "amlcompute"\nnode_selector = { "a b" = "x" }', "not a Kubernetes label key"),
        ('kind = "amlcompute"\nnode_selector = { "pool" = "-x" }', "not a Kubernetes label value"),
        ('kind = "amlcompute"\nnode_selector = { "pool" = 3 }', "compute.gpu.node_selector"),
        ('kind = "amlcompute"\ngpu = 1', "compute.gpu.gpu: Extra inputs are not permitted"),
    ],
)
def test_bad_overrides_name_the_file_and_key(project, table, message):
    project.write("amlcompile.toml", f"[compute.gpu]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load(project.root)
    assert "amlcompile.toml" in str(info.value) and message in str(info.value), info.value
