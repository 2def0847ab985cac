"""dcrsync.load.gcpause: the collector is paused while a command's long-lived objects are built, and back after."""

from __future__ import annotations

import gc

from dcrsync.load.gcpause import long_lived


def test_the_collector_is_paused_inside_and_back_after_with_what_was_built_frozen() -> None:
    assert gc.isenabled()
    kept = []
    with long_lived():
        assert not gc.isenabled()
        with long_lived():  # nested (validate of a project inside a plan's gather): still paused after
            kept.append([{"n": i} for i in range(1000)])
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() >= 1000
    gc.unfreeze()


def test_an_error_inside_still_gives_the_collector_back() -> None:
    try:
        with long_lived():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.unfreeze()
