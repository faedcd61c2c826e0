"""The API's one time type: every datetime it serialises carries a zone.

SQLite gives stored times back naive (they were all written in UTC: core/clock.py
``aware``), and pydantic writes a naive datetime without an offset, so an answer built
from them broke the API's own schema (the triage board's ``reviewed_at``). Every
datetime field of the API's models is ``ApiTime``: a naive value is taken as the UTC it
was stored in, an aware one is kept, and the OpenAPI schema says ``date-time``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from core.clock import aware

ApiTime = Annotated[datetime, AfterValidator(aware)]
