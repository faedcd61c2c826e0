"""Every model module, imported so that ``metadata`` knows every table.

A feature that adds tables puts its models in its own module under
``core/appdb/`` and adds one import line here; Alembic and the migration
tests compare against this metadata.
"""

from __future__ import annotations

from core.appdb import (
    accounts,  # noqa: F401 - users, care teams, sessions, audit log
    agreements,  # noqa: F401 - service agreements, measures, requests, ratings
    alarms,  # noqa: F401 - alarm sound of urgent alerts on the pages
    coaching,  # noqa: F401 - flags, nudges, alerts, escalation, cool-downs
    credentials,  # noqa: F401 - device credentials (core/provisioning.py)
    deadletters,  # noqa: F401 - kept dead letters (hearth dead-letters)
    delivery,  # noqa: F401 - coach delivery, inbox and scheduler jobs
    displays,  # noqa: F401 - home displays paired by a one-time code
    engagement,  # noqa: F401 - daily engagement states, clinic thresholds
    joint_record,  # noqa: F401 - WHO-5 checks, caregivers' questions to peers
    models,  # noqa: F401 - registers its tables
    nightscout_documents,  # noqa: F401 - Nightscout documents' revisions, profiles, food
    nightscout_tokens,  # noqa: F401 - followers' read-only Nightscout tokens
    outcomes,  # noqa: F401 - outcomes that matter to the person, her ratings
    outreach,  # noqa: F401 - outreach tasks and contacts, advocates
    plans,  # noqa: F401 - plans, self-assessment, peer groups
    reviews,  # noqa: F401 - dashboard preferences and reviews
    stories,  # noqa: F401 - lived-experience stories, questions to peers
)
from core.appdb.models import Base

metadata = Base.metadata
