"""The state's sops check (a test value encrypted for its recipients) starts while the plan is made
and is awaited before the first server write: run once per file name, its refusal raised there."""

from __future__ import annotations

import threading
import time

import pytest

from dcrsync.errors import SopsError
from dcrsync.state.sops import Sops

pytestmark = pytest.mark.pure


def _counting(monkeypatch: pytest.MonkeyPatch, fail: str | None = None, crash: bool = False) -> list[str]:
    calls: list[str] = []

    def encrypt(self: Sops, plaintext: bytes, filename: str, what: str = "", **_: object) -> bytes:
        calls.append(threading.current_thread().name)
        time.sleep(0.05)  # a real sops run takes a while: a second caller meanwhile must wait for it
        if fail:
            raise SopsError(fail)
        if crash:
            raise OSError(24, "Too many open files")
        return b"ENC"

    monkeypatch.setattr(Sops, "encrypt", encrypt)
    return calls


def test_a_check_started_early_runs_once_on_another_thread_and_is_awaited(monkeypatch):
    calls = _counting(monkeypatch)
    sops = Sops(binary="sops")
    sops.probe_soon("state.sops.yaml")
    sops.probe_soon("state.sops.yaml")
    sops.probe("state.sops.yaml")
    assert calls == ["dcrsync-sops-probe"]
    sops.probe("other.sops.yaml")  # another name may match other creation rules: checked on its own
    assert len(calls) == 2


def test_a_refusal_found_early_is_raised_where_the_check_is_awaited(monkeypatch):
    calls = _counting(monkeypatch, fail="sops has no recipients for the state")
    sops = Sops(binary="sops")
    sops.probe_soon("state.sops.yaml")  # never raises here: the command goes on making the plan
    for _ in range(2):
        with pytest.raises(SopsError, match="no recipients"):
            sops.probe("state.sops.yaml")
    assert len(calls) == 1


def test_a_check_that_crashed_is_not_taken_for_a_pass(monkeypatch):
    _counting(monkeypatch, crash=True)
    sops = Sops(binary="sops")
    sops.probe_soon("state.sops.yaml")
    with pytest.raises(OSError, match="Too many open files"):
        sops.probe("state.sops.yaml")
