"""The segmentation losses a training run may name, built from (name, kwargs).

One registry, as `networks` is for networks: a train setting (and the train command's `loss`
input) chooses a loss by name, the bundle stores the name and the full keyword arguments, and
`build_loss` turns them back into the same `torch.nn.Module`. A new loss is one `register_loss`
call (a factory and its defaults) plus a catalogue choice; the trainer does not change.

Nothing here imports MONAI or torch until a loss is built: settings and bundle specs name
losses without loading either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    import torch

# Every loss here takes the network's logits (softmax inside) and the integer label map.
_ONE_HOT_SOFTMAX: dict[str, Any] = {"to_onehot_y": True, "softmax": True}


@dataclass(frozen=True)
class RegisteredLoss:
    factory: Callable[..., torch.nn.Module]
    defaults: dict[str, Any]
    summary: str


_LOSSES: dict[str, RegisteredLoss] = {}

# What a training run uses when it names no loss (and what bundles written before losses were
# recorded were trained with).
DEFAULT_LOSS = "DiceCE"


def register_loss(
    name: str, factory: Callable[..., torch.nn.Module], defaults: dict[str, Any], summary: str
) -> None:
    """Make `name` choosable: `factory(**{**defaults, **given})` builds it."""
    if name in _LOSSES:
        raise ValueError(f"loss {name!r} is registered twice")
    _LOSSES[name] = RegisteredLoss(factory, dict(defaults), summary)


def loss_names() -> tuple[str, ...]:
    return tuple(_LOSSES)


def check_loss_name(name: str) -> str:
    if name not in _LOSSES:
        raise UserError(f"unknown loss {name!r}: choose one of {', '.join(_LOSSES)}")
    return name


def loss_kwargs(name: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full keyword arguments `name` is built with: its defaults updated by `given`."""
    return {**_LOSSES[check_loss_name(name)].defaults, **(given or {})}


def build_loss(name: str, **given: Any) -> torch.nn.Module:
    """Loss `name` with its defaults, updated by `given`."""
    return _LOSSES[check_loss_name(name)].factory(**loss_kwargs(name, given))


def describe_losses() -> str:
    """One line per loss, for help texts."""
    return "; ".join(f"{name}: {entry.summary}" for name, entry in _LOSSES.items())


def _monai_loss(class_name: str) -> Callable[..., torch.nn.Module]:
    """A factory that imports MONAI's `class_name` only when a loss is built."""

    def build(**kwargs: Any) -> torch.nn.Module:
        from monai import losses

        return getattr(losses, class_name)(**kwargs)  # type: ignore[no-any-return]

    build.__name__ = class_name
    return build


register_loss(
    "DiceCE",
    _monai_loss("DiceCELoss"),
    _ONE_HOT_SOFTMAX,
    "Dice plus cross-entropy (MONAI DiceCELoss), nnU-Net's default",
)
register_loss(
    "DiceFocal",
    _monai_loss("DiceFocalLoss"),
    _ONE_HOT_SOFTMAX,
    "Dice plus focal loss (MONAI DiceFocalLoss), for small structures",
)
register_loss(
    "Dice",
    _monai_loss("DiceLoss"),
    _ONE_HOT_SOFTMAX,
    "soft Dice alone (MONAI DiceLoss)",
)
register_loss(
    "GeneralizedDice",
    _monai_loss("GeneralizedDiceLoss"),
    _ONE_HOT_SOFTMAX,
    "Dice weighted by inverse label volume (MONAI GeneralizedDiceLoss), for unbalanced labels",
)
