"""Energy per step: RAPL counters, NVML counters and the CPU-time estimate, each named as the
source of the figure it gives (containers/common/energy.py)."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from containers.common import energy
from containers.common.energy import CPU_WATTS_PER_CORE, EnergyMeter, rapl_packages
from containers.common.provenance import (
    DIGEST_NOTE,
    NOT_AN_IMAGE,
    RunClock,
    collect_provenance,
)


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _zone(root: Path, name: str, energy_uj: int, wrap: int = 262_143_328_850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
    return zone


def test_estimate_is_cpu_time_times_the_documented_watts_per_core(tmp_path, monkeypatch):
    monkeypatch.delenv(energy.CPU_WATTS_ENV, raising=False)
    meter = EnergyMeter.start(tmp_path / "no-powercap", use_nvml=False)
    before = energy.cpu_seconds()
    _busy(0.3)
    used = energy.cpu_seconds() - before
    result = meter.measure()
    assert result.source == "estimate" and result.estimated
    (part,) = result.parts
    assert part.device == "cpu" and part.source == "estimate"
    assert part.joules == pytest.approx(used * CPU_WATTS_PER_CORE, rel=0.2)
    assert part.joules >= 0.3 * CPU_WATTS_PER_CORE * 0.9
    assert result.kwh == pytest.approx(result.joules / 3.6e6)
    assert "RAPL not readable" in part.note


def test_estimate_uses_the_sites_figure_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(energy.CPU_WATTS_ENV, "100")
    meter = EnergyMeter.start(tmp_path / "no-powercap", use_nvml=False)
    _busy(0.2)
    (part,) = meter.measure().parts
    assert part.joules >= 0.2 * 100 * 0.9
    monkeypatch.setenv(energy.CPU_WATTS_ENV, "lots")
    assert energy.cpu_watts_per_core() == CPU_WATTS_PER_CORE


def test_rapl_sums_the_packages_and_handles_a_counter_that_wrapped(tmp_path):
    root = tmp_path / "powercap"
    package0 = _zone(root, "intel-rapl:0", 1_000_000)
    package1 = _zone(root, "intel-rapl:1", 262_143_000_000, wrap=262_143_328_850)
    _zone(root, "intel-rapl:0:0", 5)  # a sub-zone (core, dram): part of its package, not added
    assert [z.name for z in rapl_packages(root)] == ["intel-rapl:0", "intel-rapl:1"]
    meter = EnergyMeter.start(root, use_nvml=False)
    (package0 / "energy_uj").write_text("3500000\n")  # +2.5 J
    (package1 / "energy_uj").write_text("671150\n")  # wrapped: +328850 + 671150 µJ = +1.0 J
    result = meter.measure()
    assert result.source == "rapl" and not result.estimated
    assert result.parts[0].joules == pytest.approx(3.5)
    assert result.joules == pytest.approx(3.5)


def test_unreadable_rapl_counters_fall_back_to_the_estimate(tmp_path):
    root = tmp_path / "powercap"
    zone = _zone(root, "intel-rapl:0", 10)
    (zone / "energy_uj").write_text("permission denied is what root-only reads look like\n")
    assert rapl_packages(root) == []
    assert EnergyMeter.start(root, use_nvml=False).measure().source == "estimate"


def test_this_machines_rapl_counters_when_they_are_readable():
    if not rapl_packages():
        pytest.skip("RAPL is not readable here (/sys/class/powercap absent or root-only)")
    meter = EnergyMeter.start(use_nvml=False)
    _busy(0.3)
    result = meter.measure()
    assert result.source == "rapl"
    assert result.joules > 0


class _FakeNvml(types.ModuleType):
    """The calls energy.py makes of pynvml, with counters in mJ that a test advances."""

    def __init__(self, counters: list[int | None]) -> None:
        super().__init__("pynvml")
        self.counters = counters
        self.shutdowns = 0

    def nvmlInit(self) -> None:  # noqa: N802 (pynvml's names)
        pass

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return len(self.counters)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:  # noqa: N802
        value = self.counters[handle]
        if value is None:
            raise RuntimeError("NVMLError_NotSupported")
        return value


def test_nvml_adds_the_gpus_energy_counters_as_a_measured_part(tmp_path, monkeypatch):
    fake = _FakeNvml([10_000, 50_000, None])  # the third GPU has no energy counter
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meter = EnergyMeter.start(tmp_path / "no-powercap")
    fake.counters[:2] = [12_500, 51_000]  # +2.5 J and +1.0 J
    result = meter.measure()
    assert result.source == "estimate+nvml" and result.estimated
    gpu = result.parts[1]
    assert (gpu.device, gpu.source) == ("gpu", "nvml")
    assert gpu.joules == pytest.approx(3.5)
    assert "2 GPU(s)" in gpu.note


def test_without_the_nvml_library_or_a_gpu_there_is_no_gpu_part(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    assert [p.device for p in EnergyMeter.start(tmp_path).measure().parts] == ["cpu"]
    no_gpu = _FakeNvml([])
    monkeypatch.setitem(sys.modules, "pynvml", no_gpu)
    assert [p.device for p in EnergyMeter.start(tmp_path).measure().parts] == ["cpu"]
    assert no_gpu.shutdowns == 1


def test_every_provenance_record_carries_its_energy_and_what_the_image_build_stamped(monkeypatch):
    monkeypatch.delenv("XNAT_MONAI_IMAGE", raising=False)
    record = collect_provenance("evaluate-local", RunClock(), device="cpu", inputs={})
    assert record.energy is not None and record.energy.source in ("rapl", "estimate")
    assert record.image.reference == NOT_AN_IMAGE and record.image.digest == ""
    monkeypatch.setenv("XNAT_MONAI_IMAGE", "site/infer:1.2")
    monkeypatch.setenv("XNAT_MONAI_SOURCE_COMMIT", "abc123")
    record = collect_provenance("infer", RunClock(), device="cpu", inputs={})
    assert record.image.reference == "site/infer:1.2"
    assert record.image.source_commit == "abc123"
    assert record.image.digest == DIGEST_NOTE
    dumped = record.model_dump()
    assert dumped["energy"]["parts"][0]["source"] in ("rapl", "estimate")
