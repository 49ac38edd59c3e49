"""Which scan of a session the steps work on: one rule, used by infer and by train alike.

Clinical CT sessions hold several series: a localizer (scout, topogram, surview), thin and thick
reconstructions, contrast phases, reformats. Container Service resolves infer's `scan` input
with a JSONPath matcher over the session's scans and refuses the launch when more than one scan
matches (`CommandResolutionServiceImpl.findResolvedValues`: "does not have a unique, resolved
value"). The rule says which scan is meant, on what Container Service's scan JSON holds:

- a DICOM resource and modality CT or MR (always);
- `frames` at least `min_frames` (default 10: localizers have one to three) and at most
  `max_frames` (0: no bound). XNAT's DICOM import records the frame count of every scan; a
  scan without one never matches a bound;
- `series-description` and `scan-type` matching a regular expression (whole text,
  case-insensitive), when given.

DICOM's ImageType (LOCALIZER, AXIAL, REFORMATTED) is not part of the scan JSON (`xnat:ctScanData`
has no image type and Container Service's `Scan` serialises none), so a site that wants it maps
it into the scan type or the series description.

The same rule is the infer wrapper's `scan` matcher (`matcher()`, set per project through the
wrapper's configuration) and the train command's inputs (`input_values()`): train evaluates the
matcher on each session's scans the way Container Service does, so both steps pick the same
series. The regular expressions become command input values too, which XNAT refuses when they
hold `(`, `;`, `&&`, `||` or a backtick, and train's command line quotes them with `'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from xnat_plugin.errors import UserError

MODALITIES = ("CT", "MR")
IMAGE_RESOURCE = "DICOM"
DEFAULT_MIN_FRAMES = 10
# What XNAT's input filter refuses in any value, plus the quote train's command line uses.
FORBIDDEN_IN_PATTERNS = ("(", ";", "&&", "||", "`", "'")

# Train command inputs, one per rule field, and their `--scan-rule KEY=VALUE` keys.
INPUT_NAMES = {
    "description": "scan-description",
    "scan_type": "scan-type",
    "min_frames": "min-frames",
    "max_frames": "max-frames",
}


@dataclass(frozen=True)
class ScanRule:
    """The scan a step takes from a session; `ScanRule()` is the default of our commands."""

    description: str = ""
    scan_type: str = ""
    min_frames: int = DEFAULT_MIN_FRAMES
    max_frames: int = 0

    def __post_init__(self) -> None:
        for name in ("description", "scan_type"):
            _check_pattern(INPUT_NAMES[name], getattr(self, name))
        for name in ("min_frames", "max_frames"):
            if getattr(self, name) < 0:
                raise UserError(f"scan rule {INPUT_NAMES[name]} must be 0 or more")
        if self.max_frames and self.max_frames < self.min_frames:
            raise UserError(
                f"scan rule max-frames {self.max_frames} is below min-frames {self.min_frames}: "
                "no scan could match"
            )

    def matcher(self) -> str:
        """The rule as a Container Service matcher over one scan's JSON."""
        modalities = ", ".join(f"'{m}'" for m in MODALITIES)
        clauses = [f"'{IMAGE_RESOURCE}' in @.resources[*].label", f"@.modality in [{modalities}]"]
        if self.min_frames:
            clauses.append(f"@.frames >= {self.min_frames}")
        if self.max_frames:
            clauses.append(f"@.frames <= {self.max_frames}")
        if self.description:
            clauses.append(f"@.series-description =~ /{_slashes(self.description)}/i")
        if self.scan_type:
            clauses.append(f"@.scan-type =~ /{_slashes(self.scan_type)}/i")
        return " && ".join(clauses)

    def input_values(self) -> dict[str, str]:
        """The train command's input values for this rule."""
        return {INPUT_NAMES[f.name]: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_input_values(cls, values: Mapping[str, str]) -> ScanRule:
        """The rule from input values (names as `input_values` gives them); missing: default."""
        known = {input_name: name for name, input_name in INPUT_NAMES.items()}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(
                f"unknown scan rule setting(s) {', '.join(unknown)}: use "
                f"{', '.join(INPUT_NAMES.values())}"
            )
        settings: dict[str, object] = {}
        for input_name, text in values.items():
            name = known[input_name]
            if name in ("min_frames", "max_frames"):
                settings[name] = _whole_number(input_name, text)
            else:
                settings[name] = text
        return cls(**settings)  # type: ignore[arg-type]

    @classmethod
    def parse(cls, items: Iterable[str]) -> ScanRule:
        """`["scan-description=ABDOMEN.*", "min-frames=20"]` (the `--scan-rule` syntax)."""
        values: dict[str, str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise UserError(
                    f"--scan-rule {item!r} is not KEY=VALUE; keys: {', '.join(INPUT_NAMES.values())}"
                )
            values[key.strip()] = value.strip()
        return cls.from_input_values(values)

    def describe(self) -> str:
        """One line for logs and messages."""
        parts = [f"{'/'.join(MODALITIES)} with {IMAGE_RESOURCE}", f"frames >= {self.min_frames}"]
        if self.max_frames:
            parts.append(f"frames <= {self.max_frames}")
        if self.description:
            parts.append(f"series description ~ {self.description}")
        if self.scan_type:
            parts.append(f"scan type ~ {self.scan_type}")
        return ", ".join(parts)


def _check_pattern(name: str, pattern: str) -> None:
    bad = [token for token in FORBIDDEN_IN_PATTERNS if token in pattern]
    if bad:
        raise UserError(
            f"scan rule {name} {pattern!r} holds {' '.join(bad)}: XNAT refuses input values "
            "containing ( ; && || or a backtick, and ' ends the quoted value; write the pattern "
            "without them (alternatives: a|b, classes: [0-9])"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UserError(
            f"scan rule {name} {pattern!r} is not a regular expression ({exc})"
        ) from exc


def _slashes(pattern: str) -> str:
    """A pattern inside a JSONPath regex literal `/…/`: its own slashes escaped."""
    return re.sub(r"(?<!\\)/", r"\/", pattern)


def _whole_number(name: str, text: str) -> int:
    try:
        number = float(text) if text.strip() else 0.0
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise UserError(f"scan rule {name} {text!r} is not a whole number")
    value = int(number)
    if value < 0:
        raise UserError(f"scan rule {name} must be 0 or more, got {text}")
    return value
