"""Route each ``Outbound`` to its recipient's channels, and record every delivery.

- Each person lists channels in order (``notification_channels``); with none
  listed, a patient gets the home display. Every message also lands in the
  in-app inbox, the record the dashboard shows.
- Each person reads in the language saved in their settings (core/i18n.py): the
  channels a person reads (the home display, e-mail, SMS, webhooks) render the message
  in it at send time; the inbox keeps the English record, shown in the viewer's language.
- A normal message goes to the first listed channel; when that one still fails
  after its retries (capped exponential backoff, core/retry.py), the next one
  is tried (fall-back). An urgent message goes to every listed channel at once.
- Each channel sends on its own worker threads and every send is bounded by a
  timeout, so a hanging SMTP server or webhook never delays the home display
  or another person's message.
- Urgent messages have their own coordinator, branch and per-channel threads (the
  priority lane): they never queue behind routine messages.
- Every try is a row in ``deliveries`` with its status. Its unique key
  (ref, kind, recipient, channel) makes delivering the same message again (a
  real-time event redelivered after a restart) a no-op for the channels that
  already had it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from care.messages import Outbound
from coach.channels import Channel, DeliveryResult, Recipient
from core.appdb import delivery as deliveries
from core.appdb.delivery import Delivery, take_over_claim
from core.clock import Clock, SystemClock
from core.cpu_priority import favour_this_thread
from core.i18n import DEFAULT, recipient_language
from core.retry import Backoff

log = logging.getLogger(__name__)

INBOX = "inbox"
HOME_DISPLAY = "home_display"
CHANNEL_NAMES = (HOME_DISPLAY, INBOX, "email", "sms", "webhook")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 3  # tries per channel before falling back
    backoff_initial_s: float = 0.5
    backoff_cap_s: float = 10.0
    send_timeout_s: float = 10.0  # one send, from outside the channel
    workers_per_channel: int = 4
    coordinators: int = 16
    urgent_nice: int = 0  # the urgent pools' threads' nice value (core/cpu_priority.py)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    channel: str
    status: str  # sent, failed, duplicate
    attempts: int = 0
    error: str | None = None


def set_channels(engine: Engine, recipient_id: str,
                 channels: Sequence[tuple[str, str | None]]) -> None:
    """Replace how one person is reached: (channel, apprise URL or None), preferred first.

    Raises ValueError for an unknown channel or an address apprise cannot use."""
    import apprise

    for name, target in channels:
        if name not in CHANNEL_NAMES:
            raise ValueError(f"unknown channel {name!r}; known: {', '.join(CHANNEL_NAMES)}")
        if name in ("email", "sms", "webhook") and not (target and apprise.Apprise().add(target)):
            raise ValueError(f"channel {name!r} needs a valid apprise URL")
    deliveries.replace_channel_preferences(engine, recipient_id, list(channels))


def recipient_key(outbound: Outbound) -> str | None:
    if outbound.recipient_id:
        return outbound.recipient_id
    return outbound.patient_id if outbound.recipient_role == "patient" else None


class Notifier:
    def __init__(
        self,
        *,
        engine: Engine,
        channels: Mapping[str, Channel],
        policy: DeliveryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._channels = dict(channels)
        self._policy = policy or DeliveryPolicy()
        self._clock = clock or SystemClock()
        self._stopping = threading.Event()
        # Two sets of pools: urgent messages (the priority lane) never queue behind
        # routine ones, however many of those are waiting or slow.
        # The urgent pools' threads run at the safety path's CPU priority.
        nice = {False: 0, True: self._policy.urgent_nice}
        self._pools = {
            (name, urgent): ThreadPoolExecutor(
                self._policy.workers_per_channel,
                thread_name_prefix=f"deliver-{name}{'-urgent' if urgent else ''}",
                initializer=favour_this_thread, initargs=(nice[urgent],))
            for name in self._channels for urgent in (False, True)
        }
        self._coordinators = {
            urgent: ThreadPoolExecutor(self._policy.coordinators,
                                       thread_name_prefix="deliver-urgent" if urgent else "deliver",
                                       initializer=favour_this_thread, initargs=(nice[urgent],))
            for urgent in (False, True)
        }
        # Branches of one message (the inbox copy, an urgent fan-out) get their own
        # threads: a coordinator waiting on its branches never starves them.
        self._branches = {
            urgent: ThreadPoolExecutor(2 * self._policy.coordinators,
                                       thread_name_prefix="deliver-branch",
                                       initializer=favour_this_thread, initargs=(nice[urgent],))
            for urgent in (False, True)
        }

    # -- the public face --------------------------------------------------------------

    def deliver(self, outbound: Outbound) -> Future[list[DeliveryOutcome]]:
        """Start delivering; the future holds one outcome per channel tried."""
        return self._coordinators[outbound.urgent].submit(self._deliver, outbound)

    def deliver_all(self, outbounds: Sequence[Outbound]) -> list[Future[list[DeliveryOutcome]]]:
        return [self.deliver(o) for o in outbounds]

    def close(self, wait: bool = True) -> None:
        self._stopping.set()
        for executor in [*self._coordinators.values(), *self._branches.values()]:
            executor.shutdown(wait=wait, cancel_futures=not wait)
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def channels_for(self, key: str, role: str) -> list[tuple[str, str | None]]:
        """(channel, target) in order of preference, for channels this process has."""
        listed = deliveries.channel_preferences(self._engine, key)
        if not listed and role == "patient":
            listed = [(HOME_DISPLAY, None)]
        return [(c, t) for c, t in listed if c in self._channels and c != INBOX]

    def language_of(self, key: str) -> str:
        """The language saved in the person's settings (core/i18n.py), English if none or
        if it cannot be read: a message is never held back for its language."""
        try:
            return recipient_language(self._engine, key)
        except SQLAlchemyError:
            log.warning("language of a recipient not readable; sending in English")
            return DEFAULT

    # -- one message --------------------------------------------------------------------

    def _deliver(self, outbound: Outbound) -> list[DeliveryOutcome]:
        key = recipient_key(outbound)
        if key is None:
            log.error("message %s (%s) names no recipient; not delivered", outbound.ref,
                      outbound.kind)
            return []
        chain = self.channels_for(key, outbound.recipient_role)
        lang = self.language_of(key)
        inbox: Future[DeliveryOutcome] | None = None
        if INBOX in self._channels:
            inbox = self._branches[outbound.urgent].submit(
                self._try_channel, INBOX, Recipient(key, outbound.recipient_role,
                                                    outbound.patient_id), outbound)
        if outbound.urgent:
            outcomes = self._all_at_once(key, chain, outbound, lang)
        else:
            outcomes = self._fall_back(key, chain, outbound, lang)
        if inbox is not None:
            outcomes.append(inbox.result())
        return outcomes

    def _all_at_once(self, key: str, chain: list[tuple[str, str | None]],
                     outbound: Outbound, lang: str) -> list[DeliveryOutcome]:
        futures = [
            self._branches[True].submit(
                self._try_channel, name,
                Recipient(key, outbound.recipient_role, outbound.patient_id, target, lang),
                outbound)
            for name, target in chain
        ]
        return [f.result() for f in futures]

    def _fall_back(self, key: str, chain: list[tuple[str, str | None]],
                   outbound: Outbound, lang: str) -> list[DeliveryOutcome]:
        outcomes = []
        for name, target in chain:
            outcome = self._try_channel(
                name, Recipient(key, outbound.recipient_role, outbound.patient_id, target, lang),
                outbound)
            outcomes.append(outcome)
            if outcome.status in ("sent", "duplicate"):
                break
            log.warning("channel %s failed for message %s; falling back", name, outbound.ref)
        return outcomes

    def _try_channel(self, name: str, recipient: Recipient,
                     outbound: Outbound) -> DeliveryOutcome:
        row_id = self._claim(name, recipient, outbound)
        if row_id is None:  # delivered (or being delivered) before: say so, do not resend
            earlier = self._earlier_status(name, recipient, outbound)
            return DeliveryOutcome(name, "failed" if earlier == "failed" else "duplicate")
        backoff = Backoff(initial=self._policy.backoff_initial_s, cap=self._policy.backoff_cap_s)
        result = DeliveryResult.failed("not tried")
        attempts = 0
        while attempts < self._policy.attempts and not self._stopping.is_set():
            attempts += 1
            result = self._send_bounded(name, recipient, outbound)
            if result.ok or attempts >= self._policy.attempts:
                break
            self._stopping.wait(backoff.next_delay())
        status = "sent" if result.ok else "failed"
        self._finish(row_id, status, attempts, result.error)
        return DeliveryOutcome(name, status, attempts, result.error)

    def _send_bounded(self, name: str, recipient: Recipient,
                      outbound: Outbound) -> DeliveryResult:
        try:
            future = self._pools[(name, outbound.urgent)].submit(
                self._channels[name].send, recipient, outbound)
        except RuntimeError:
            return DeliveryResult.failed("shutting down")
        try:
            return future.result(timeout=self._policy.send_timeout_s)
        except FutureTimeout:
            future.cancel()
            return DeliveryResult.failed(f"{name}: timed out")
        except Exception as exc:  # a channel that raises is a failing channel
            log.warning("channel %s raised %s", name, type(exc).__name__)
            return DeliveryResult.failed(f"{name}: {type(exc).__name__}")

    # -- the record ----------------------------------------------------------------------

    def _claim(self, name: str, recipient: Recipient, outbound: Outbound) -> int | None:
        row = Delivery(
            ref=outbound.ref, kind=outbound.kind, patient_id=outbound.patient_id,
            recipient_role=recipient.role, recipient_key=recipient.key, channel=name,
            status="pending", attempts=0, created_at=self._now(), message=outbound.to_dict(),
        )
        claimed = deliveries.claim(self._engine, row)
        if claimed is not None:
            return claimed
        # sent before; or a dead process's claim: re-taken after its lease
        return take_over_claim(self._engine, ref=outbound.ref, kind=outbound.kind,
                                   recipient_key=recipient.key, channel=name, now=self._now())

    def _earlier_status(self, name: str, recipient: Recipient, outbound: Outbound) -> str | None:
        return deliveries.earlier_status(self._engine, ref=outbound.ref, kind=outbound.kind,
                                         recipient_key=recipient.key, channel=name)

    def _finish(self, row_id: int, status: str, attempts: int, error: str | None) -> None:
        deliveries.finish(self._engine, row_id, status=status, attempts=attempts, error=error,
                          now=self._now())

    def _now(self) -> datetime:
        return self._clock.now()
