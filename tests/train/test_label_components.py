"""The bundle records how many pieces each label has, so infer's clean-up keeps paired organs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from containers.train.bundle_output import label_components


def _case(kidneys: int) -> SimpleNamespace:
    label = np.zeros((30, 20, 20), dtype=np.uint8)
    label[10:15, 10:15, 10:15] = 1
    label[2:8, 2:8, 2:8] = 3
    if kidneys == 2:
        label[20:26, 2:8, 2:8] = 3
    label[14, 18, 18] = 3  # an annotation speck, not a piece
    return SimpleNamespace(label=label)


def test_paired_organs_count_two_pieces_and_specks_do_not_count():
    cases = [_case(2), _case(2), _case(1)]
    found = label_components(cases, {"liver": 1, "spleen": 2, "kidney": 3})
    assert found == {"liver": 1, "kidney": 2}  # spleen absent everywhere: no entry
