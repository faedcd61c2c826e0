"""Every model module, imported so that ``metadata`` knows every table.

A feature that adds tables puts its models in its own module under
``core/appdb/`` and adds one import line here; Alembic and the migration
tests compare against this metadata.
"""

from __future__ import annotations

from core.appdb import models  # noqa: F401 - registers its tables
from core.appdb import plans  # noqa: F401 - plans, self-assessment, peer groups
from core.appdb import reviews  # noqa: F401 - dashboard preferences and reviews
from core.appdb import delivery  # noqa: F401 - coach delivery, inbox and scheduler jobs
from core.appdb import credentials  # noqa: F401 - device credentials (core/provisioning.py)
from core.appdb import coaching  # noqa: F401 - flags, nudges, alerts, escalation, cool-downs
from core.appdb import accounts  # noqa: F401 - users, care teams, sessions, audit log
from core.appdb import deadletters  # noqa: F401 - kept dead letters (hearth dead-letters)
from core.appdb import alarms  # noqa: F401 - alarm sound of urgent alerts on the pages
from core.appdb import nightscout_tokens  # noqa: F401 - followers' read-only Nightscout tokens
from core.appdb.models import Base

metadata = Base.metadata
