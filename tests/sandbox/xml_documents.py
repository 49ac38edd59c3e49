"""Small assessor documents for the sandbox tests."""

from __future__ import annotations


def roi_collection_xml(session_id: str, subject_id: str, label: str, *, with_id: str = "") -> str:
    id_attribute = f' ID="{with_id}"' if with_id else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<icr:RoiCollection xmlns:icr="http://icr.ac.uk/icr" xmlns:xnat="http://nrg.wustl.edu/xnat"
    {id_attribute} label="{label}">
  <xnat:imageSession_ID>{session_id}</xnat:imageSession_ID>
  <icr:UID>1.2.826.0.1.3680043.8.498.1</icr:UID>
  <icr:collectionType>SEG</icr:collectionType>
  <icr:subjectID>{subject_id}</icr:subjectID>
  <icr:references><icr:seriesUID>1.2.826.0.1.3680043.8.498.2</icr:seriesUID></icr:references>
  <icr:name>liver-spleen-kidney</icr:name>
</icr:RoiCollection>"""


def qc_assessment_xml(session_id: str, label: str, dice: float) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xnat:QCAssessment xmlns:xnat="http://nrg.wustl.edu/xnat"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" label="{label}">
  <xnat:imageSession_ID>{session_id}</xnat:imageSession_ID>
  <xnat:scans>
    <xnat:scan id="1">
      <xnat:scanStatistics xsi:type="xnat:statisticsData">
        <xnat:additionalStatistics name="dice_liver">{dice}</xnat:additionalStatistics>
      </xnat:scanStatistics>
    </xnat:scan>
  </xnat:scans>
</xnat:QCAssessment>"""
