"""The energy one step used, measured where the machine lets us and estimated where it does not.

Sources, each named in the record so a reader knows how far to trust it:

- `rapl`: CPU package energy from Linux's powercap interface (`/sys/class/powercap/intel-rapl:N/
  energy_uj`, AMD processors too), the counters of every package summed, wrap-around handled
  with `max_energy_range_uj`. It measures the whole package while the step ran, other work on
  the machine included. Since Linux 5.10 the counters are readable by root only, so inside a
  container it is often absent.
- `nvml`: GPU energy from NVIDIA's management library (`nvmlDeviceGetTotalEnergyConsumption`,
  Volta and newer), summed over the GPUs the container sees, through `nvidia-ml-py` (NVIDIA's
  own binding). No library, no driver or no GPU: no GPU part.
- `estimate`: where RAPL cannot be read, CPU time (user + system, this process and its waited-for
  children) × `CPU_WATTS_PER_CORE`, the Green Algorithms power draw of a fully used core of an
  unknown CPU (12 W; Lannelongue, Grealey & Inouye, Adv. Sci. 2021, doi:10.1002/advs.202100707).
  Set `XNAT_MONAI_CPU_WATTS_PER_CORE` to your processor's TDP ÷ cores for a better figure.

Neither the memory nor the data centre's overhead (PUE) is counted: the figure is the energy at
the processor and GPU. Library choice: codecarbon measures the same three ways but brings pandas
and a background scheduler into every image for what is, here, a few file reads; NVML is read
through NVIDIA's own binding.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

log = logging.getLogger(__name__)

POWERCAP_ROOT = Path("/sys/class/powercap")
CPU_WATTS_PER_CORE = 12.0
CPU_WATTS_ENV = "XNAT_MONAI_CPU_WATTS_PER_CORE"
JOULES_PER_KWH = 3.6e6
ENERGY_SOURCES = ("rapl", "nvml", "estimate")


class EnergyPart(BaseModel):
    """The energy of one kind of device during the step."""

    device: str  # "cpu" or "gpu"
    source: str  # one of ENERGY_SOURCES
    joules: float
    note: str = ""


class Energy(BaseModel):
    """What a step's report records: the total, and each part with its source."""

    joules: float
    kwh: float
    source: str  # the parts' sources joined by "+", e.g. "rapl+nvml", "estimate"
    estimated: bool
    parts: list[EnergyPart]


def cpu_watts_per_core() -> float:
    """The documented per-core figure, or the site's own from the environment."""
    value = os.environ.get(CPU_WATTS_ENV, "")
    try:
        watts = float(value) if value else CPU_WATTS_PER_CORE
    except ValueError:
        log.warning("%s=%r is not a number; using %.0f W", CPU_WATTS_ENV, value, CPU_WATTS_PER_CORE)
        return CPU_WATTS_PER_CORE
    return watts if watts > 0 else CPU_WATTS_PER_CORE


# ---- RAPL -----------------------------------------------------------------------------------
def rapl_packages(root: Path = POWERCAP_ROOT) -> list[Path]:
    """The package domains (`intel-rapl:N`, not their `:N:M` sub-zones) whose counter reads."""
    if not root.is_dir():
        return []
    packages = []
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:
            continue
        try:
            int((zone / "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        packages.append(zone)
    return packages


def _read_uj(zone: Path) -> tuple[int, int]:
    counter = int((zone / "energy_uj").read_text())
    try:
        wrap = int((zone / "max_energy_range_uj").read_text())
    except (OSError, ValueError):
        wrap = 0
    return counter, wrap


def rapl_joules_between(before: dict[str, int], after: dict[str, tuple[int, int]]) -> float:
    """Energy between two readings of the same packages; a counter that wrapped adds its range."""
    total_uj = 0
    for name, start in before.items():
        if name not in after:
            continue
        end, wrap = after[name]
        delta = end - start
        if delta < 0 and wrap:
            delta += wrap
        total_uj += max(delta, 0)
    return total_uj / 1e6


# ---- NVML -----------------------------------------------------------------------------------
def _nvml() -> Any | None:
    """The initialised `pynvml` module, or None without the library, the driver or a GPU."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            pynvml.nvmlShutdown()
            return None
    except Exception:  # NVMLError_LibraryNotFound, _DriverNotLoaded, … : no GPU to measure
        return None
    return pynvml


def nvml_energy_mj(nvml: Any) -> dict[int, int]:
    """Total energy counter (mJ since the driver loaded) of each GPU that reports one."""
    readings = {}
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            readings[index] = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception:  # NVMLError_NotSupported on GPUs older than Volta
            continue
    return readings


# ---- CPU time -------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """User + system CPU time of this process and of the children it has waited for."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass
class EnergyMeter:
    """Readings taken when a step starts; `measure()` gives the energy since then."""

    powercap_root: Path = POWERCAP_ROOT
    rapl_start: dict[str, int] = field(default_factory=dict)
    rapl_zones: dict[str, Path] = field(default_factory=dict)
    nvml_start: dict[int, int] = field(default_factory=dict)
    cpu_start: float = 0.0
    nvml: Any = field(default=None, repr=False)

    @classmethod
    def start(cls, powercap_root: Path = POWERCAP_ROOT, *, use_nvml: bool = True) -> EnergyMeter:
        meter = cls(powercap_root=powercap_root, cpu_start=cpu_seconds())
        for zone in rapl_packages(powercap_root):
            with contextlib.suppress(OSError, ValueError):
                meter.rapl_start[zone.name] = _read_uj(zone)[0]
                meter.rapl_zones[zone.name] = zone
        if use_nvml:
            meter.nvml = _nvml()
            if meter.nvml is not None:
                meter.nvml_start = nvml_energy_mj(meter.nvml)
        return meter

    def measure(self) -> Energy:
        parts = [self._cpu_part()]
        gpu = self._gpu_part()
        if gpu is not None:
            parts.append(gpu)
        joules = sum(p.joules for p in parts)
        return Energy(
            joules=round(joules, 3),
            kwh=joules / JOULES_PER_KWH,
            source="+".join(p.source for p in parts),
            estimated=any(p.source == "estimate" for p in parts),
            parts=parts,
        )

    def _cpu_part(self) -> EnergyPart:
        if self.rapl_start:
            after = {}
            for name, zone in self.rapl_zones.items():
                with contextlib.suppress(OSError, ValueError):
                    after[name] = _read_uj(zone)
            if after:
                return EnergyPart(
                    device="cpu",
                    source="rapl",
                    joules=round(rapl_joules_between(self.rapl_start, after), 3),
                    note=f"package energy of {len(after)} CPU package(s), whole machine",
                )
        seconds = max(cpu_seconds() - self.cpu_start, 0.0)
        watts = cpu_watts_per_core()
        return EnergyPart(
            device="cpu",
            source="estimate",
            joules=round(seconds * watts, 3),
            note=f"{seconds:.1f} CPU seconds × {watts:g} W per core (RAPL not readable)",
        )

    def _gpu_part(self) -> EnergyPart | None:
        if self.nvml is None or not self.nvml_start:
            return None
        after = nvml_energy_mj(self.nvml)
        millijoules = sum(
            max(after[i] - start, 0) for i, start in self.nvml_start.items() if i in after
        )
        return EnergyPart(
            device="gpu",
            source="nvml",
            joules=round(millijoules / 1000, 3),
            note=f"{len(self.nvml_start)} GPU(s), whole device",
        )
