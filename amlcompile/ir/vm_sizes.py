"""Azure VM sizes that Azure ML compute clusters offered: vCPUs, memory and GPUs per node.

An `AmlCompute` step runs in one Kubernetes pod sized to one node of its `vm_size` (in Azure ML
a step got a node), scheduled onto nodes of that size by the well-known instance-type label.
Figures are Microsoft's published sizes (the per-series pages of the Azure virtual machine
documentation, learn.microsoft.com/azure/virtual-machines/sizes/..., checked 2026 for the
current families: Dv5/Dsv5/Ddsv5, Ev5/Esv5/Edsv5, Fsv2, NCasT4_v3, NC A100 v4, NC H100 v5,
ND A100 v4, ND H100 v5, NV A10 v5, HBv3, HBv4, HX); the table is data, so adding a size is one
line. A project whose nodes differ overrides cpu, memory and GPUs per target in the config.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple


class VmSize(NamedTuple):
    vcpus: int
    memory_gib: float
    gpus: int = 0  # GPU devices the node exposes (a partial vGPU is one device)
    gpu_model: str | None = None  # NVIDIA model; "A10 1/6" for a sixth of an A10 (NVadsA10 v5)


def _family(pattern: str, rows: list[tuple], gpu_model: str | None = None) -> dict[str, VmSize]:
    """`pattern` with `{}` replaced by each row's size number: (n, vcpus, memory[, gpus])."""
    out = {}
    for row in rows:
        n, vcpus, memory, *gpus = row
        out["Standard_" + pattern.format(n)] = VmSize(
            vcpus, float(memory), gpus[0] if gpus else 0, gpu_model if gpus else None
        )
    return out


def _per_vcpu(pattern: str, counts: list[int], gib_per_vcpu: float) -> dict[str, VmSize]:
    return _family(pattern, [(n, n, n * gib_per_vcpu) for n in counts])


_DV2 = [(1, 1, 3.5), (2, 2, 7), (3, 4, 14), (4, 8, 28), (5, 16, 56)]
_DV2_MEM = [(11, 2, 14), (12, 4, 28), (13, 8, 56), (14, 16, 112), (15, 20, 140)]
_D_COUNTS = [2, 4, 8, 16, 32, 48, 64]
_D5_COUNTS = [2, 4, 8, 16, 32, 48, 64, 96]
_E_COUNTS = [2, 4, 8, 16, 20, 32, 48]
# HPC sizes with constrained cores: Standard_HB120-32rs_v3 has 32 of the 120 cores active
# (the VM sees 32 vCPUs) and the full memory.
_HB = {
    "HB120{}rs_v3": (120, [96, 64, 32, 16], 448),
    "HB176{}rs_v4": (176, [144, 96, 48, 24], 768),
    "HX176{}rs": (176, [144, 96, 48, 24], 1408),
}


def _hpc() -> dict[str, VmSize]:
    out = {}
    for pattern, (full, constrained, memory) in _HB.items():
        out["Standard_" + pattern.format("")] = VmSize(full, float(memory))
        for cores in constrained:
            out["Standard_" + pattern.format(f"-{cores}")] = VmSize(cores, float(memory))
    return out


VM_SIZES: dict[str, VmSize] = {
    # General purpose: D / DS
    **_family("D{}_v2", _DV2 + _DV2_MEM),
    **_family("DS{}_v2", _DV2 + _DV2_MEM),
    **_per_vcpu("D{}_v3", _D_COUNTS, 4),
    **_per_vcpu("D{}s_v3", _D_COUNTS, 4),
    **_per_vcpu("D{}_v4", _D_COUNTS, 4),
    **_per_vcpu("D{}s_v4", _D_COUNTS, 4),
    **_per_vcpu("D{}d_v4", _D_COUNTS, 4),
    **_per_vcpu("D{}ds_v4", _D_COUNTS, 4),
    **_per_vcpu("D{}a_v4", _D5_COUNTS, 4),
    **_per_vcpu("D{}as_v4", _D5_COUNTS, 4),
    **_per_vcpu("D{}_v5", _D5_COUNTS, 4),
    **_per_vcpu("D{}s_v5", _D5_COUNTS, 4),
    **_per_vcpu("D{}ds_v5", _D5_COUNTS, 4),
    **_per_vcpu("D{}as_v5", _D5_COUNTS, 4),
    **_per_vcpu("D{}d_v5", _D5_COUNTS, 4),
    **_per_vcpu("D{}ads_v5", _D5_COUNTS, 4),
    # Memory optimised: E
    **_per_vcpu("E{}_v3", _E_COUNTS, 8),
    **_per_vcpu("E{}s_v3", _E_COUNTS, 8),
    **_family("E64_v3", [("", 64, 432)]),
    **_family("E64s_v3", [("", 64, 432)]),
    **_per_vcpu("E{}_v4", _E_COUNTS, 8),
    **_per_vcpu("E{}s_v4", _E_COUNTS, 8),
    **_per_vcpu("E{}ds_v4", _E_COUNTS, 8),
    **_family("E64_v4", [("", 64, 504)]),
    **_family("E64s_v4", [("", 64, 504)]),
    **_per_vcpu("E{}_v5", [*_E_COUNTS, 64], 8),
    **_per_vcpu("E{}s_v5", [*_E_COUNTS, 64], 8),
    **_per_vcpu("E{}d_v5", [*_E_COUNTS, 64], 8),
    **_per_vcpu("E{}ds_v5", [*_E_COUNTS, 64], 8),
    **_family("E96{}_v5", [("", 96, 672), ("s", 96, 672), ("d", 96, 672), ("ds", 96, 672)]),
    **_family("E104i{}_v5", [("", 104, 672), ("s", 104, 672), ("d", 104, 672), ("ds", 104, 672)]),
    # Compute optimised: F
    **_family("F{}", [(1, 1, 2), (2, 2, 4), (4, 4, 8), (8, 8, 16), (16, 16, 32)]),
    **_family("F{}s", [(1, 1, 2), (2, 2, 4), (4, 4, 8), (8, 8, 16), (16, 16, 32)]),
    **_per_vcpu("F{}s_v2", [2, 4, 8, 16, 32, 48, 64, 72], 2),
    # GPU: NC (K80), NCv2 (P100), NCv3 (V100), NCasT4_v3 (T4), NC A100 v4
    **_family("NC{}", [(6, 6, 56, 1), (12, 12, 112, 2), (24, 24, 224, 4)], "K80"),
    **_family("NC{}r", [(24, 24, 224, 4)], "K80"),
    **_family("NC{}s_v2", [(6, 6, 112, 1), (12, 12, 224, 2), (24, 24, 448, 4)], "P100"),
    **_family("NC{}rs_v2", [(24, 24, 448, 4)], "P100"),
    **_family("NC{}s_v3", [(6, 6, 112, 1), (12, 12, 224, 2), (24, 24, 448, 4)], "V100"),
    **_family("NC{}rs_v3", [(24, 24, 448, 4)], "V100"),
    **_family(
        "NC{}as_T4_v3", [(4, 4, 28, 1), (8, 8, 56, 1), (16, 16, 110, 1), (64, 64, 440, 4)], "T4"
    ),
    **_family("NC{}ads_A100_v4", [(24, 24, 220, 1), (48, 48, 440, 2), (96, 96, 880, 4)], "A100"),
    # GPU: NC H100 v5 (H100 NVL), NC A10 v4
    **_family("NC{}_H100_v5", [("40ads", 40, 320, 1), ("80adis", 80, 640, 2)], "H100"),
    **_family("NC{}ads_A10_v4", [(8, 8, 100, 1), (16, 16, 200, 1), (32, 32, 400, 2)], "A10"),
    # GPU: ND (P40), NDv2 (V100), ND A100 v4
    **_family("ND{}s", [(6, 6, 112, 1), (12, 12, 224, 2), (24, 24, 448, 4)], "P40"),
    **_family("ND{}rs", [(24, 24, 448, 4)], "P40"),
    **_family("ND{}rs_v2", [(40, 40, 672, 8)], "V100"),
    **_family("ND{}asr_v4", [(96, 96, 900, 8)], "A100"),
    **_family("ND{}amsr_A100_v4", [(96, 96, 1900, 8)], "A100"),
    # GPU: ND H100 v5
    **_family("ND{}isr_H100_v5", [(96, 96, 1900, 8)], "H100"),
    # GPU: NV (M60), NVv3 (M60)
    **_family("NV{}", [(6, 6, 56, 1), (12, 12, 112, 2), (24, 24, 224, 4)], "M60"),
    **_family("NV{}s_v3", [(12, 12, 112, 1), (24, 24, 224, 2), (48, 48, 448, 4)], "M60"),
    # GPU: NV A10 v5, partial A10s below NV36 (1/6, 1/3, 1/2 of a GPU: one vGPU device)
    **_family("NV6ads_A10_v5", [("", 6, 55, 1)], "A10 1/6"),
    **_family("NV12ads_A10_v5", [("", 12, 110, 1)], "A10 1/3"),
    **_family("NV18ads_A10_v5", [("", 18, 220, 1)], "A10 1/2"),
    **_family("NV36ad{}_A10_v5", [("s", 36, 440, 1), ("ms", 36, 880, 1)], "A10"),
    **_family("NV72ads_A10_v5", [("", 72, 880, 2)], "A10"),
    # HPC: HBv3, HBv4, HX (no GPUs)
    **_hpc(),
}

_BY_LOWER = {name.lower(): name for name in VM_SIZES}


def lookup(vm_size: str) -> tuple[str, VmSize] | None:
    """The canonical name and size; Azure accepts names in any case, so do we."""
    name = _BY_LOWER.get(vm_size.strip().lower())
    return (name, VM_SIZES[name]) if name else None


def suggestions(vm_size: str, n: int = 3) -> list[str]:
    """The nearest known names, for the error message of an unknown size."""
    wanted = vm_size.strip().lower()
    if not wanted.startswith("standard_"):
        wanted = "standard_" + wanted
    close = difflib.get_close_matches(wanted, list(_BY_LOWER), n=n, cutoff=0.6)
    return [_BY_LOWER[c] for c in close]
