"""XNAT's XSDs, built offline, and validation of assessor XML against them.

XNAT validates every assessor document it receives (the container service's Assessor output
handler included) against the schemas of its installed datatypes. These functions do the same
with the real `xnat.xsd` and the ICR `roi.xsd`, so a document that passes here is one a real
XNAT accepts.

`xnat.xsd` imports `xdat.xsd` and `birnprov.xsd`, which are not published; the reference folder
carries stubs declaring the three types `xnat.xsd` uses from them (see
`../shared/reference/README.md`). Any folder laid out the same way works with `load_schema_dir`.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    # Imported where schemas are built: writing an assessor (the steps) needs no xmlschema.
    import xmlschema

log = logging.getLogger(__name__)

XNAT_NAMESPACE = "http://nrg.wustl.edu/xnat"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True)
class Schemas:
    """Every XSD found in one folder, compiled together into one set of global maps."""

    schema: xmlschema.XMLSchema
    files_by_namespace: dict[str, Path] = field(default_factory=dict)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self.files_by_namespace)

    def declares_element(self, tag: str) -> bool:
        """Whether `{namespace}name` is a global element of some loaded schema."""
        return tag in self.schema.maps.elements

    def xsi_type_of_element(self, tag: str) -> str | None:
        """The `prefix:typeName` XNAT calls the datatype of root element `{namespace}name`.

        `{http://icr.ac.uk/icr}RoiCollection` → `icr:roiCollectionData`, using the prefix the
        declaring XSD gives its own namespace.
        """
        element = self.schema.maps.elements.get(tag)
        if element is None or element.type.name is None:
            return None
        namespace, _, local = element.type.name[1:].partition("}")
        prefix = _prefix_for(self.files_by_namespace.get(namespace), namespace)
        return f"{prefix}:{local}" if prefix else local


def load_reference_schemas(reference_dir: Path) -> Schemas:
    """XNAT's `xnat.xsd` and the ICR `roi.xsd` from `<reference_dir>/xnat-schemas` (+ stubs)."""
    return load_schema_dir(Path(reference_dir) / "xnat-schemas")


def load_schema_dir(path: Path) -> Schemas:
    """Compile every `*.xsd` under `path` together; cached per folder.

    Each file is registered under its `targetNamespace`, so an `xs:import` of a namespace finds
    its file wherever it sits in the folder (stubs included). The XNAT namespace, when present, is
    the one built first.
    """
    return _load_schema_dir_cached(str(Path(path).resolve()))


@functools.lru_cache(maxsize=8)
def _load_schema_dir_cached(path_text: str) -> Schemas:
    folder = Path(path_text)
    if not folder.is_dir():
        raise UserError(
            f"schema folder {folder} does not exist: point it at a folder of XNAT .xsd files"
        )
    files_by_namespace: dict[str, Path] = {}
    for xsd_file in sorted(folder.rglob("*.xsd")):
        namespace = _target_namespace(xsd_file)
        if namespace in files_by_namespace:
            raise UserError(
                f"two schemas in {folder} declare namespace {namespace}: "
                f"{files_by_namespace[namespace]} and {xsd_file}; keep one of them"
            )
        files_by_namespace[namespace] = xsd_file
    if not files_by_namespace:
        raise UserError(f"no .xsd files under {folder}: expected XNAT's xnat/xnat.xsd there")
    first_namespace = (
        XNAT_NAMESPACE if XNAT_NAMESPACE in files_by_namespace else next(iter(files_by_namespace))
    )
    locations = [(ns, str(p)) for ns, p in files_by_namespace.items() if ns != first_namespace]
    import xmlschema

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            schema = xmlschema.XMLSchema(
                str(files_by_namespace[first_namespace]), locations=locations, allow="local"
            )
        except xmlschema.XMLSchemaException as exc:
            raise UserError(
                f"the schemas in {folder} do not build: {exc}; "
                "add the missing imported schemas (or stubs) to that folder"
            ) from exc
    for warning in caught:
        # `xnat.xsd` hints at ../xdat/xdat.xsd, which is absent; the stub answers instead.
        log.debug("schema build: %s", warning.message)
    log.debug("built %d schema namespaces from %s", len(files_by_namespace), folder)
    return Schemas(schema=schema, files_by_namespace=files_by_namespace)


def validate(xml: str | bytes, schemas: Schemas) -> list[str]:
    """Reasons `xml` would be refused by an XNAT with these schemas; empty when it is valid.

    The document is checked as sent, as XNAT does (`XMLValidator` in
    `DefaultCatalogService.insertXmlObject`) before it generates anything: a root without the
    required `ID` is refused.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if not schemas.declares_element(root.tag):
        return [
            f"root element {root.tag} is not declared by any installed schema "
            f"(namespaces: {', '.join(schemas.namespaces)})"
        ]
    # xsi:type values are QNames: their prefixes resolve through the document's declarations.
    namespaces = _declared_namespaces(xml)
    return [_describe(error) for error in schemas.schema.iter_errors(root, namespaces=namespaces)]


def xsi_type_of(xml: str | bytes, schemas: Schemas) -> str:
    """The XNAT datatype (`icr:roiCollectionData`, …) of a document's root element."""
    root = ET.fromstring(xml)
    xsi_type = root.get(f"{{{XSI_NAMESPACE}}}type") or schemas.xsi_type_of_element(root.tag)
    if xsi_type is None:
        raise UserError(f"root element {root.tag} is not an XNAT datatype of the installed schemas")
    return xsi_type


def _declared_namespaces(xml: str | bytes) -> dict[str, str]:
    data = xml.encode() if isinstance(xml, str) else xml
    declared: dict[str, str] = {}
    for _event, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
        declared.setdefault(str(prefix), str(uri))
    return declared


def _describe(error: xmlschema.XMLSchemaValidationError) -> str:
    where = f" (at {error.path})" if error.path else ""
    return f"{error.reason or error.message}{where}"


def _target_namespace(xsd_file: Path) -> str:
    try:
        root = ET.parse(xsd_file).getroot()
    except ET.ParseError as exc:
        raise UserError(f"{xsd_file} is not well-formed XML ({exc}): replace the file") from exc
    return root.get("targetNamespace", "")


def _prefix_for(xsd_file: Path | None, namespace: str) -> str | None:
    """The prefix an XSD binds to `namespace` in its own root (XNAT uses those in xsiTypes)."""
    if xsd_file is None:
        return None
    for _event, (prefix, uri) in ET.iterparse(xsd_file, events=("start-ns",)):
        if uri == namespace and prefix:
            return str(prefix)
    return None
