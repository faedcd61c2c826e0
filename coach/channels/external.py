"""E-mail, SMS and webhooks through apprise, one apprise URL per person and channel.

Examples of targets (apprise URL syntax): ``mailtos://user:pass@smtp.example.org?to=a@b``,
``json://hooks.example.org/hearth`` (a webhook receiving JSON), an SMS service
URL such as ``twilio://...``. Apprise's ``cto``/``rto`` URL arguments bound the
connect and read time; coach/notify.py also bounds each send from outside.
"""

from __future__ import annotations

import logging

import apprise

from care.messages import Outbound, localised
from coach.channels import DeliveryResult, Recipient
from core.i18n import N_, gettext

log = logging.getLogger(__name__)

EXTERNAL_CHANNELS = ("email", "sms", "webhook")


def render_text(outbound: Outbound, lang: str = "en") -> str:
    """The plain-text body: the message, then why it was sent (``outbound`` already in
    ``lang``)."""
    why = gettext(lang, N_("Why you are getting this:"))
    return f"{outbound.body}\n\n{why} {outbound.why}"


class AppriseChannel:
    def __init__(self, name: str) -> None:
        if name not in EXTERNAL_CHANNELS:
            raise ValueError(f"unknown external channel {name!r}")
        self.name = name

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult:
        if not recipient.target:
            return DeliveryResult.failed("no address configured")
        sender = apprise.Apprise()
        if not sender.add(recipient.target):
            return DeliveryResult.failed("the configured apprise URL is not valid")
        notify_type = (apprise.NotifyType.FAILURE if outbound.urgent
                       else apprise.NotifyType.INFO)
        outbound = localised(outbound, recipient.language)
        try:
            ok = sender.notify(title=outbound.title,
                               body=render_text(outbound, recipient.language),
                               notify_type=notify_type)
        except Exception as exc:  # apprise plugins raise their own errors
            return DeliveryResult.failed(f"{self.name}: {type(exc).__name__}")
        return DeliveryResult.sent() if ok else DeliveryResult.failed(f"{self.name}: not accepted")
