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


def test_answers_leave_no_garbage_for_the_collector(hydra) -> None:  # noqa: ANN001
    """An apply pauses the collector while its workers talk to the server (`Applier._parallel`): that is
    only safe because an answer, once read, is freed by reference counting. httpx's own answers point
    at their stream and back (27 objects a request that only the collector frees)."""
    from dcrsync.net.http import make_client

    with make_client(hydra.admin_url) as http:
        http.get("/admin/clients")  # the connection and what the first request sets up, before counting
        gc.collect()
        gc.disable()
        try:
            for _ in range(50):
                assert http.get("/admin/clients", params={"page_size": 1}).status_code == 200
            left = gc.collect()
        finally:
            gc.enable()
    assert left < 50, f"{left} objects of 50 answers were garbage only the cyclic collector could free"
