"""Station files in and out: one import surface for the CLI, the web upload and tests.

The work is done in three modules; this one re-exports their public names:

* :mod:`.reading`: decoding (UTF-8, UTF-8 with BOM, GBK/GB18030), CSV/XLSX/GeoJSON
  sheets; :mod:`.mapping`: the column mapping (proposed, explicit, saved as JSON);
  :mod:`.fileio`: file errors in both languages, size limits, atomic writes;
* :mod:`.importing` (with :mod:`.import_plan` and :mod:`.import_messages`):
  validation with errors in the user's terms, districts from the boundaries,
  de-duplicating import plans and their one-transaction apply;
* :mod:`.exporting`: CSV, XLSX, GeoJSON and GeoPackage in any of the three CRSs.
"""

from __future__ import annotations

from .exporting import (
    EXPORT_FORMATS,
    SAMPLE_NOTICE,
    attribution,
    check_export_path,
    export_stations,
    neutralise_cell,
    stations_geojson,
)
from .fileio import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, FileAccessError, FileError
from .import_messages import RowError, RowIssue
from .import_plan import FieldChange, ImportPlan, PlannedRow, normalise_name, plan_import
from .importing import (
    Candidate,
    ParsedRows,
    apply_plan,
    assign_districts,
    parse_rows,
    prepare_import,
    validate_rows,
)
from .mapping import (
    HEADER_ALIASES,
    IGNORED_HEADERS,
    ColumnMapping,
    field_for_header,
    load_mapping,
    parse_map_option,
    propose_mapping,
    resolve_mapping,
    save_mapping,
)
from .reading import (
    RawTable,
    Sheet,
    apply_mapping,
    decode_text,
    read_sheet,
    read_station_file,
    sheet_from_bytes,
)

__all__ = [
    "EXPORT_FORMATS", "HEADER_ALIASES", "IGNORED_HEADERS", "MAX_IMPORT_BYTES", "MAX_IMPORT_ROWS",
    "SAMPLE_NOTICE", "apply_mapping", "apply_plan", "assign_districts", "attribution", "Candidate",
    "check_export_path", "ColumnMapping", "decode_text", "export_stations", "field_for_header",
    "FieldChange", "FileAccessError", "FileError", "ImportPlan", "load_mapping", "neutralise_cell",
    "normalise_name", "parse_map_option", "parse_rows", "ParsedRows", "plan_import", "PlannedRow",
    "prepare_import", "propose_mapping", "RawTable", "read_sheet", "read_station_file",
    "resolve_mapping", "RowError", "RowIssue", "save_mapping", "Sheet", "sheet_from_bytes",
    "stations_geojson", "validate_rows",
]
