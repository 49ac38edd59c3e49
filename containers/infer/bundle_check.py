"""`python -m containers.infer.bundle_check BUNDLE`: will the infer step run this bundle?

What `xnat-monai models add` runs before it uploads a bundle: the metadata reads (a segmentation
with named output channels), the network builds from `network_def` (MONAI's ConfigParser) and
takes the weights (`weights_only=True`), its input and output channels fit the metadata, and a
forward pass on a small random patch runs. None of the bundle's own code is run: the network is
built only when `network_def` is declarative (or the bundle is trusted here), and whether the
rest of the pipeline needs the site's approval is reported with the code checksum to approve.

Prints one JSON object on stdout; a bundle that fails a check ends with one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from containers.infer.model_loading import describe_model
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging
from xnat_plugin.models.layout import code_checksum, weights_checksum

log = logging.getLogger("containers.infer.bundle_check")

PATCH_SIDES = (32, 64, 96, 128)


def check_bundle(root: Path) -> dict[str, Any]:
    """The facts `models add` records; raises UserError at the first check that fails."""
    import torch

    model = describe_model(root)
    if model.native:
        from containers.infer.model_loading import load_native

        bundle, networks = load_native(model, torch.device("cpu"))
        network, patches = networks[0], [tuple(model.spec.patch_size)]  # type: ignore[union-attr]
        needs_trust, first_code = False, ""
        members = bundle.member_names
    else:
        from containers.common.bundle_pipeline import build_network, read_config
        from containers.common.bundle_trust import declarative_view, without_writers
        from containers.infer.model_loading import load_weights

        network = build_network(root)
        load_weights(network, root)
        _path, raw = read_config(root)
        problems = declarative_view(without_writers(raw)).problems
        needs_trust, first_code = bool(problems), (problems[0] if problems else "")
        patches = _candidate_patches(raw, model.metadata)
        members = ["models/model.pt"]
    out_shape = _forward(network.eval(), len(model.format.input_channels), patches, root)
    if out_shape[1] != model.format.output_channels:
        raise UserError(
            f"bundle {root.name}: the network gives {out_shape[1]} output channel(s) but its "
            f"metadata's channel_def names {model.format.output_channels}; fix "
            "network_data_format in configs/metadata.json"
        )
    return {
        "name": model.name,
        "version": model.version,
        "kind": "xnat-monai bundle" if model.native else "MONAI bundle",
        "input_channels": list(model.format.input_channels),
        "labels": model.format.labels,
        "overlapping_segments": not model.format.exclusive,
        "network": type(network).__name__,
        "members": members,
        "forward_pass": {
            "input": [1, len(model.format.input_channels), *out_shape[2:]],
            "output": out_shape,
        },
        "needs_trust": needs_trust,
        "first_code": first_code,
        "code_sha256": code_checksum(root),
        "weights_sha256": weights_checksum(root),
    }


def _candidate_patches(raw: dict[str, Any], metadata: dict[str, Any]) -> list[tuple[int, ...]]:
    """Small patches to try, smallest first: the inferer's roi_size, the metadata's input
    shape, and cubes of PATCH_SIDES voxels."""
    found: list[tuple[int, ...]] = [(side,) * 3 for side in PATCH_SIDES]
    inferer = raw.get("inferer")
    roi = inferer.get("roi_size") if isinstance(inferer, dict) else None
    inputs = metadata.get("network_data_format", {}).get("inputs", {})
    shape = next(iter(inputs.values()), {}).get("spatial_shape") if inputs else None
    for candidate in (roi, shape):
        if (
            isinstance(candidate, list)
            and len(candidate) == 3
            and all(isinstance(v, int) for v in candidate)
        ):
            found.append(tuple(candidate))
    unique = sorted(set(found), key=lambda p: (p[0] * p[1] * p[2], p))
    return [p for p in unique if p[0] * p[1] * p[2] <= 160**3]


def _forward(network: Any, channels: int, patches: list[tuple[int, ...]], root: Path) -> list[int]:
    import torch

    failure = ""
    for patch in patches:
        try:
            with torch.no_grad():
                out = network(torch.rand((1, channels, *patch)))
        except (RuntimeError, ValueError) as exc:
            failure = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            continue
        if isinstance(out, (list, tuple)):  # deep supervision: the first is the prediction
            out = out[0]
        return [int(s) for s in out.shape]
    raise UserError(
        f"bundle {root.name}: no forward pass ran with {channels} input channel(s) on patches "
        f"{[list(p) for p in patches]} ({failure}); do the metadata's input channels fit "
        "network_def's in_channels?"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m containers.infer.bundle_check",
        description="Check that the infer step can run a MONAI bundle; print the facts as JSON.",
    )
    parser.add_argument("bundle", type=Path, help="the bundle's folder (holding configs/)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        print(json.dumps(check_bundle(args.bundle)))
    except UserError as exc:
        print(f"bundle check: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
