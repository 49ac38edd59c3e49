"""The data types this XNAT knows and which extends which, read from its own schemas
(`schemas/`): a listing filtered by `xsiType=xnat:subjectAssessorData` shows CT, MR and PET
sessions alike, as XNAT's does, and a PUT of an unknown type is refused."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from xnat_plugin.sandbox.xml_validation import PREFIXES, prefixed, sandbox_schema

_NAMESPACES = {prefix: uri for uri, prefix in PREFIXES.items()}
SESSION_BASE = "xnat:imageSessionData"
SCAN_BASE = "xnat:imageScanData"
ASSESSOR_BASE = "xnat:imageAssessorData"
SUBJECT_ASSESSOR_BASE = "xnat:subjectAssessorData"


def qualified(xsi_type: str) -> str | None:
    prefix, _, local = xsi_type.partition(":")
    namespace = _NAMESPACES.get(prefix)
    return f"{{{namespace}}}{local}" if namespace and local else None


@lru_cache(maxsize=1)
def _global_types() -> dict[str, object]:
    return {prefixed(str(name)): xsd_type for name, xsd_type in sandbox_schema().maps.types.items()}


def known(xsi_type: str) -> bool:
    return xsi_type in _global_types()


def canonical(name: str) -> str | None:
    """The type `name` names in any letter case (XNAT's element lookup ignores case:
    `xnat:mrsessiondata`), spelled as the schema spells it; None when unknown."""
    if name in _global_types():
        return name
    return next((t for t in _global_types() if t.lower() == name.lower()), None)


def derives_from(xsi_type: str, base: str) -> bool:
    """True when `xsi_type` is `base` or extends it (at any depth)."""
    types = _global_types()
    own, ancestor = types.get(xsi_type), types.get(base)
    if own is None or ancestor is None:
        return False
    return bool(own is ancestor or own.is_derived(ancestor))  # type: ignore[attr-defined]


@lru_cache(maxsize=32)
def subtypes(base: str) -> tuple[str, ...]:
    """`base` and every type that extends it, sorted."""
    return tuple(sorted(t for t in _global_types() if derives_from(t, base)))


def _concrete(base: str) -> tuple[str, ...]:
    """Types under `base` that XNAT stores as objects (not abstract)."""
    return tuple(
        t
        for t in subtypes(base)
        if t != base and not getattr(_global_types()[t], "abstract", False)
    )


def is_session_type(xsi_type: str) -> bool:
    return xsi_type in session_types()


def session_types() -> tuple[str, ...]:
    return _concrete(SESSION_BASE)


def is_scan_type(xsi_type: str) -> bool:
    return xsi_type in scan_types()


def scan_types() -> tuple[str, ...]:
    return (SCAN_BASE, *_concrete(SCAN_BASE))


def is_assessor_type(xsi_type: str) -> bool:
    return xsi_type != ASSESSOR_BASE and derives_from(xsi_type, ASSESSOR_BASE)


def matches_filter(xsi_type: str, wanted: str) -> bool:
    """XNAT's `xsiType=` listing filter: the type itself or any type extending it."""
    return any(derives_from(xsi_type, w.strip()) for w in wanted.split(",") if w.strip())


def root_tag(xsi_type: str) -> str:
    """The qualified root element of a document of `xsi_type` (`{ns}QCAssessment`): the
    schema's global element of that type, else the type's own name."""
    for name, element in sandbox_schema().maps.elements.items():
        if prefixed(str(element.type.name)) == xsi_type:
            return str(name)
    return qualified(xsi_type) or xsi_type


def global_type(xsi_type: str) -> Any:
    """The schema's complex type for `xsi_type` (None when this XNAT has no such type)."""
    return sandbox_schema().maps.types.get(qualified(xsi_type) or "")


def types_extending(base: Any) -> list[tuple[str, Any]]:
    """Every (xsi type, schema type) that extends the schema type `base`, itself excluded."""
    return [
        (name, candidate)
        for name, candidate in _global_types().items()
        if candidate is not base and candidate.is_derived(base)  # type: ignore[attr-defined]
    ]


def prefixed_name(qname: Any) -> str:
    return prefixed(str(qname))
