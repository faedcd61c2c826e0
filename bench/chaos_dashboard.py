"""The dashboard process of the fault suite: what `hearth dashboard` runs
(hearth.commands.dashboard.app_from_settings, configured by the same HEARTH_* variables),
with one difference: the Nightscout upload outbox re-sends an unconfirmed message after
``CHAOS_RESEND_AFTER_S`` (doubling up to four times that) instead of 30 s (up to 600 s),
as the suite shortens the gateways' re-sends, to keep the run short.

    python -m bench.chaos_dashboard PORT
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn


def main() -> None:
    from core.appdb.account_store import AccountStore
    from core.appdb.directory import SqlDirectory
    from core.config import get_settings
    from core.provisioning import Provisioner
    from dashboard.app import create_app
    from dashboard.nightscout_backend import NightscoutBackend
    from dashboard.settings import DashboardSettings
    from dashboard.upload_outbox import UploadOutbox
    from hearth import wiring

    # The outbox's re-sends are counted from its INFO lines (device ids and counts only).
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    engine = wiring.app_engine(settings)
    app = create_app(store=wiring.timeseries(settings), directory=SqlDirectory(engine),
                     accounts=AccountStore(engine), settings=DashboardSettings())
    resend = float(os.environ.get("CHAOS_RESEND_AFTER_S", "30"))
    queue = UploadOutbox(wiring.mqtt_endpoint(settings), settings.data_dir,
                         client_prefix="hearth-dashboard-nightscout", resend_after_s=resend,
                         resend_max_s=4 * resend)
    queue.start(timeout=10)
    app.state.nightscout = NightscoutBackend(Provisioner(engine), None, queue=queue)
    try:
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    finally:
        queue.stop()


if __name__ == "__main__":
    main()
