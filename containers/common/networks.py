"""The segmentation networks a bundle may name, built from (name, channels, patch size, kwargs).

One registry, as `losses` is for losses: a bundle stores the name and the keyword arguments,
and `build_network` turns them back into the same `torch.nn.Module` at train and at infer time.
`default_kwargs` gives what the step uses when a user names only the network; the stored kwargs
are always the full set. A new network is one `register_network` call (how to import its class,
its defaults, what its patch must divide by) plus a catalogue choice; the trainer does not
change. Nothing here imports MONAI until a network class is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    import torch

# The networks this project registers (the train command's choices).
NETWORK_NAMES = ("UNet", "SegResNet", "SwinUNETR", "DynUNet")


def _unet_defaults(patch_size: Sequence[int]) -> dict[str, Any]:
    return {
        "channels": [16, 32, 64, 128, 256],
        "strides": [2, 2, 2, 2],
        "num_res_units": 2,
        "norm": "INSTANCE",
    }


def _segresnet_defaults(patch_size: Sequence[int]) -> dict[str, Any]:
    return {"init_filters": 16, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1]}


def _swinunetr_defaults(patch_size: Sequence[int]) -> dict[str, Any]:
    return {"feature_size": 24, "use_checkpoint": False}


def _dynunet_defaults(patch_size: Sequence[int]) -> dict[str, Any]:
    """nnU-Net-style plan: halve each axis while it stays ≥ 8 voxels, at most 5 times."""
    sizes = list(patch_size)
    strides: list[list[int]] = [[1, 1, 1]]
    while len(strides) < 6:
        step = [2 if s % 2 == 0 and s // 2 >= 8 else 1 for s in sizes]
        if step == [1, 1, 1]:
            break
        strides.append(step)
        sizes = [s // f for s, f in zip(sizes, step, strict=True)]
    kernels = [[3, 3, 3] for _ in strides]
    filters = [min(32 * 2**i, 320) for i in range(len(strides))]
    return {
        "kernel_size": kernels,
        "strides": strides,
        "upsample_kernel_size": strides[1:],
        "filters": filters,
        "norm_name": "INSTANCE",
        "res_block": True,
    }


def _unet_divisor(kwargs: dict[str, Any]) -> tuple[int, int, int]:
    factor = 1
    for s in kwargs.get("strides", [2, 2, 2, 2]):
        factor *= int(s)
    return (factor, factor, factor)


def _segresnet_divisor(kwargs: dict[str, Any]) -> tuple[int, int, int]:
    factor = 2 ** (len(kwargs.get("blocks_down", [1, 2, 2, 4])) - 1)
    return (factor, factor, factor)


def _swinunetr_divisor(kwargs: dict[str, Any]) -> tuple[int, int, int]:
    return (32, 32, 32)


def _dynunet_divisor(kwargs: dict[str, Any]) -> tuple[int, int, int]:
    divisor = [1, 1, 1]
    for step in kwargs.get("strides", []):
        step3 = [step] * 3 if isinstance(step, int) else list(step)
        divisor = [d * int(s) for d, s in zip(divisor, step3, strict=True)]
    return (divisor[0], divisor[1], divisor[2])


@dataclass(frozen=True)
class RegisteredNetwork:
    # The class, imported when first needed (any MONAI import loads most of MONAI: seconds).
    load: Callable[[], type]
    defaults: Callable[[Sequence[int]], dict[str, Any]]
    divisor: Callable[[dict[str, Any]], tuple[int, int, int]]
    min_patch: int = 0  # each patch axis at least this many voxels (0: no limit)


_NETWORKS: dict[str, RegisteredNetwork] = {}


def register_network(
    name: str,
    load: Callable[[], type],
    defaults: Callable[[Sequence[int]], dict[str, Any]],
    divisor: Callable[[dict[str, Any]], tuple[int, int, int]],
    *,
    min_patch: int = 0,
) -> None:
    """Make `name` choosable. `load()` returns a class built as `cls(spatial_dims=3,
    in_channels=…, out_channels=…, **kwargs)`; `defaults(patch_size)` gives its kwargs when a
    user names only the network; `divisor(kwargs)` what each patch axis must be a multiple of."""
    if name in _NETWORKS:
        raise ValueError(f"network {name!r} is registered twice")
    _NETWORKS[name] = RegisteredNetwork(load, defaults, divisor, min_patch)


def network_names() -> tuple[str, ...]:
    return tuple(_NETWORKS)


def _monai_network(class_name: str) -> Callable[[], type]:
    def load() -> type:
        from monai.networks import nets

        return getattr(nets, class_name)  # type: ignore[no-any-return]

    return load


register_network("UNet", _monai_network("UNet"), _unet_defaults, _unet_divisor)
register_network("SegResNet", _monai_network("SegResNet"), _segresnet_defaults, _segresnet_divisor)
# SwinUNETR's deepest stage is patch/32; instance norm needs more than one voxel there.
register_network(
    "SwinUNETR",
    _monai_network("SwinUNETR"),
    _swinunetr_defaults,
    _swinunetr_divisor,
    min_patch=64,
)
register_network("DynUNet", _monai_network("DynUNet"), _dynunet_defaults, _dynunet_divisor)


def check_network_name(name: str) -> str:
    if name not in _NETWORKS:
        raise UserError(f"unknown network {name!r}: choose one of {', '.join(_NETWORKS)}")
    return name


def default_kwargs(name: str, patch_size: Sequence[int]) -> dict[str, Any]:
    """The keyword arguments this project uses for `name` at this patch size."""
    return _NETWORKS[check_network_name(name)].defaults(patch_size)


def patch_divisor(name: str, kwargs: dict[str, Any]) -> tuple[int, int, int]:
    """Each patch axis must be a multiple of this for the network's down/up-sampling to fit."""
    return _NETWORKS[check_network_name(name)].divisor(kwargs)


def check_patch_size(name: str, kwargs: dict[str, Any], patch_size: Sequence[int]) -> None:
    divisor = patch_divisor(name, kwargs)
    if len(patch_size) != 3 or any(p % d for p, d in zip(patch_size, divisor, strict=True)):
        raise UserError(
            f"patch size {list(patch_size)} does not fit {name}: each axis must be a multiple "
            f"of {list(divisor)}, e.g. --patch-size 96,96,96"
        )
    least = _NETWORKS[name].min_patch
    if min(patch_size) < least:
        raise UserError(
            f"patch size {list(patch_size)} is too small for {name}: each axis must be ≥ {least}"
        )


def network_class(name: str) -> type:
    """The class registered under `name` (MONAI's for the built-in ones)."""
    # Loaded here, not at registration: reading or checking a bundle's spec needs no MONAI.
    return _NETWORKS[check_network_name(name)].load()


def build_network(
    name: str,
    in_channels: int,
    out_channels: int,
    patch_size: Sequence[int],
    **kwargs: Any,
) -> torch.nn.Module:
    """Build network `name` (3-D); missing kwargs take this project's defaults."""
    merged = {**default_kwargs(name, patch_size), **kwargs}
    check_patch_size(name, merged, patch_size)
    cls = network_class(name)
    return cls(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, **merged)  # type: ignore[no-any-return]


# Arguments a bundle's spec never stores: the step gives them.
_GIVEN = ("self", "spatial_dims", "in_channels", "out_channels")


def complete_kwargs(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with every other constructor argument of `name` at MONAI's default, so the
    stored set is the whole network and a later MONAI changing a default cannot change it.
    Values are made JSON-friendly (tuples as lists, enums as their value)."""
    import inspect
    from enum import Enum

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    full: dict[str, Any] = {}
    for parameter in inspect.signature(network_class(name)).parameters.values():
        if parameter.name in _GIVEN or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        if parameter.name in kwargs:
            full[parameter.name] = plain(kwargs[parameter.name])
        elif parameter.default is not parameter.empty:
            default = plain(parameter.default)
            if default is None or isinstance(default, str | int | float | bool | list | dict):
                full[parameter.name] = default
    unknown = sorted(set(kwargs) - set(full) - set(_GIVEN))
    if unknown:
        raise UserError(f"{name} takes no argument {', '.join(unknown)} on this MONAI")
    return full
