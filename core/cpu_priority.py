"""The safety path's claim on the CPU: its threads ask the kernel for a higher priority.

An urgent low must reach the person within a second even when something else saturates
the machine (issue 15; docs/INGEST.md "The priority lane"). Queues are kept apart
already (ingest's scanner and lane, the coach's urgent lane and delivery pools); what
is left is the CPU itself: under a CPU hog every runnable thread gets a fair share, the
safety path's too, and each of its steps waits for a time slice. On Linux the nice value
is per thread, so the threads that carry only safety work (the scanner process, the
coach's urgent workers and urgent delivery pools) take a lower nice value than the rest
(``SAFETY_NICE``; the Completely Fair Scheduler gives a thread at nice -5 about three
times the weight of one at 0). Lowering a nice value needs CAP_SYS_NICE (root has it;
a container needs ``cap_add: [SYS_NICE]``, docs/DEPLOY.md): without it the thread keeps
its priority, the refusal is logged once per process, and everything works as before.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

# The nice value of the safety path's threads (0 = as every other thread). -5: above the
# default 0 of everything else on the machine, well short of the real-time classes.
SAFETY_NICE = -5

_refusal_logged = threading.Event()


def favour_this_thread(nice: int = SAFETY_NICE) -> bool:
    """Give the calling thread the nice value ``nice`` (threads it starts inherit it).
    True if the kernel took it; False where it may not (no CAP_SYS_NICE, not Linux)."""
    if nice == 0:
        return True
    set_priority = getattr(os, "setpriority", None)
    if set_priority is None:  # not a POSIX system
        return False
    try:
        set_priority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as error:  # EPERM / EACCES without CAP_SYS_NICE
        if not _refusal_logged.is_set():
            _refusal_logged.set()
            log.warning("the safety path keeps the default CPU priority: the kernel refused "
                        "nice %d (%s); grant CAP_SYS_NICE to give it precedence under load",
                        nice, error.strerror)
        return False
    return True


def thread_nice() -> int:
    """The calling thread's nice value (for tests and the benchmark's report)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
