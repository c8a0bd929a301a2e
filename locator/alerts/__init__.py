"""Heat and cold alerts: staff declare them for districts and a time window; riders see
a banner with the nearest cooled (or heated) stations. Rules and storage only; no Flask.

See :mod:`locator.alerts.model` for the levels (and their sources) and
:mod:`locator.alerts.service` for who may do what.
"""

from __future__ import annotations

from .model import AMENITIES as AMENITIES
from .model import FIELDS as FIELDS
from .model import KIND_NAMES as KIND_NAMES
from .model import KINDS as KINDS
from .model import LEVELS as LEVELS
from .model import Alert as Alert
from .model import AlertConflict as AlertConflict
from .model import AlertInvalid as AlertInvalid
from .model import AlertNotFound as AlertNotFound
from .model import Level as Level
from .model import alert_fields as alert_fields
from .model import area_name as area_name
from .model import level_of as level_of
from .model import most_severe as most_severe
from .model import shipped_areas as shipped_areas
from .service import STATES as STATES
from .service import AlertService as AlertService

__all__ = ["AMENITIES", "FIELDS", "KINDS", "KIND_NAMES", "LEVELS", "STATES", "Alert",
           "AlertConflict", "AlertInvalid", "AlertNotFound", "AlertService", "Level",
           "alert_fields", "area_name", "level_of", "most_severe", "shipped_areas"]
