"""The Applier's parallel step: a change that fails is reported and the others go on; a bug in a worker
(anything but a DcrsyncError) is raised once every change started has ended, never swallowed.

The step's threads only: no server, no store (its one question, `degraded`, is answered here)."""

from __future__ import annotations

import gc
import threading
import time
from types import SimpleNamespace

import pytest

from dcrsync.apply.applier import Applier, ApplyReport
from dcrsync.errors import BackendError
from dcrsync.plan.plan import Change

pytestmark = pytest.mark.pure


def _applier(parallelism: int) -> Applier:
    applier = Applier.__new__(Applier)  # the step needs no backend: only these
    applier.parallelism = parallelism
    applier.store = SimpleNamespace(degraded=False)
    applier.report = ApplyReport()
    applier.progress = None
    return applier


def _changes(n: int) -> list[Change]:
    return [Change(action="create", name=f"c-{i:03d}", client_id=None, cause="pending") for i in range(n)]


def test_a_refused_change_is_reported_and_the_others_are_done():
    applier = _applier(4)
    changes = _changes(40)

    def job(k: int) -> None:
        if k == 7:
            raise BackendError("hydra refused to create client c-007: HTTP 400", status=400)
        time.sleep(0.001)

    applier._parallel([(c, lambda k=k: job(k)) for k, c in enumerate(changes)])
    assert [(c.name, why) for c, why in applier.report.failed] == [("c-007", "hydra refused to create client c-007: HTTP 400")]
    assert sorted(c.name for c in applier.report.done) == [c.name for c in changes if c.name != "c-007"]


def test_a_bug_in_a_worker_is_raised_after_every_started_change_ended():
    applier = _applier(4)
    changes = _changes(30)
    ran: list[int] = []
    lock = threading.Lock()

    def job(k: int) -> None:
        if k == 3:
            raise KeyError("a bug")
        time.sleep(0.002)
        with lock:
            ran.append(k)

    with pytest.raises(KeyError, match="a bug"):
        applier._parallel([(c, lambda k=k: job(k)) for k, c in enumerate(changes)])
    # the error came once the pool had ended: nothing left running behind it, and the changes queued
    # behind the bug were carried out (as a failed change does not stop the others)
    assert sorted(ran) == [k for k in range(30) if k != 3]
    assert not [t for t in threading.enumerate() if t.name.startswith("dcrsync-apply")]
    assert gc.isenabled()  # the step pauses the collector (`Applier._parallel`): a bug gives it back too
    gc.unfreeze()
