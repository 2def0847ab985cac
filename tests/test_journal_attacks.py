"""A writer to the journal without the key (issue 16 item 3), on every store: the file store, the real
PostgreSQL, the real MinIO, with the real Hydra. An apply is interrupted before its commit (its
journal holds two created clients and their secrets); then the journal is tampered with as a writer
to the folder, the `journal` table or the `journal/` prefix can: a record repointed at another
client, a batch dropped, a secret planted, and an unauthenticated batch (a pull request adding a
`*.journal/` folder). Each is refused in one line naming the batch, nothing is folded and the server
is not touched; with the journal put back, the next apply folds it and nothing is lost."""

from __future__ import annotations

import json

import psycopg
import pytest
import yaml

from dcrsync.recorder import Recorder
from dcrsync.sops import Sops
from tests.support.hydra_api import clients_of
from tests.test_shared_store import _clients, _converged, _store, use_shared_store

pytestmark = pytest.mark.hydra


@pytest.fixture(params=["file", "postgres", "s3"])
def any_store(request, hydra_project, monkeypatch):
    if request.param == "file":
        hydra_project.kind = "file"
        return hydra_project
    return use_shared_store(hydra_project, request.param, request, monkeypatch)


class JournalAccess:
    """The journal as a writer to the store sees it: items (id, bytes, sops-encrypted) in order."""

    def __init__(self, p) -> None:
        self.p = p
        self.dir = p.state.with_name(p.state.name + ".journal")

    def items(self) -> list[tuple[str, bytes, bool]]:
        if self.p.kind == "file":
            files = sorted(self.dir.iterdir()) if self.dir.is_dir() else []
            return [(f.name, f.read_bytes(), f.name.endswith(".sops.yaml")) for f in files]
        if self.p.kind == "postgres":
            with psycopg.connect(self.p.server.dsn) as c:
                rows = c.execute("SELECT seq, batch, secret FROM dcrsync.journal WHERE state = %s ORDER BY seq",
                                 (self.p.label,)).fetchall()
            return [(str(seq), bytes(batch), secret) for seq, batch, secret in rows]
        with self.p.server.client() as c:
            keys = sorted(c.list_keys("dcrsync-state", f"{self.p.label}/journal/"))
            return [(k, c.get_object("dcrsync-state", k).content, k.endswith(".sops")) for k in keys]

    def name(self, ident: str) -> str:
        """How dcrsync names the batch in its messages."""
        if self.p.kind == "file":
            return str(self.dir / ident)
        if self.p.kind == "postgres":
            return f"dcrsync.journal row seq={ident} (state {self.p.label})"
        return f"s3://dcrsync-state/{ident}"

    def put(self, ident: str | None, data: bytes, secret: bool) -> str:
        """Replace item `ident`, or add one after the last (None); returns its id."""
        last = self.items()[-1][0] if self.items() else None
        if self.p.kind == "file":
            ident = ident or f"{int(last.split('.')[0]) + 1 if last else 1:06d}." + ("sops.yaml" if secret else "json")
            self.dir.mkdir(exist_ok=True)
            (self.dir / ident).write_bytes(data)
        elif self.p.kind == "postgres":
            with psycopg.connect(self.p.server.dsn) as c:
                if ident is None:
                    ident = str(c.execute("INSERT INTO dcrsync.journal (state, secret, batch) VALUES (%s, %s, %s) "
                                          "RETURNING seq", (self.p.label, secret, data)).fetchone()[0])
                else:
                    c.execute("UPDATE dcrsync.journal SET batch = %s WHERE state = %s AND seq = %s",
                              (data, self.p.label, int(ident)))
        else:
            if ident is None:  # named as dcrsync names a batch on the state as it is (an older one is skipped)
                serial = _store(self.p).read_public().serial
                n = int(last.rsplit("/", 1)[1].split("-")[1]) if last else 0
                ident = f"{self.p.label}/journal/{serial:012d}-{n + 1:08d}-99999." + ("sops" if secret else "json")
            with self.p.server.client() as c:
                c.put_object("dcrsync-state", ident, data)
        return ident

    def delete(self, ident: str) -> None:
        if self.p.kind == "file":
            (self.dir / ident).unlink()
        elif self.p.kind == "postgres":
            with psycopg.connect(self.p.server.dsn) as c:
                c.execute("DELETE FROM dcrsync.journal WHERE state = %s AND seq = %s", (self.p.label, int(ident)))
        else:
            with self.p.server.client() as c:
                c.delete_object("dcrsync-state", ident)


def _interrupted_apply(p, monkeypatch) -> None:
    """An apply that stops right before its commit (as a runner killed there): its journal stays."""

    class Killed(BaseException):
        pass

    def killed(self, state):
        raise Killed()

    with monkeypatch.context() as m:
        m.setattr(Recorder, "commit", killed)
        with pytest.raises(Killed):
            p.run("apply", "--auto-approve")


def _header(data: bytes, secret: bool) -> dict:
    """The plain header of a batch, as anyone who can read the store can."""
    doc = yaml.safe_load(data) if secret else json.loads(data)
    return {k: doc[k] for k in ("journal", "serial", "base", "seq", "prev", "mac")}


def test_a_tampered_journal_is_refused_naming_the_batch_and_nothing_is_lost(any_store, hydra, age_key, monkeypatch):
    p = any_store
    _clients(p, 2, "old")
    assert p.run("apply", "--auto-approve").exit_code == 0
    kept = _store(p).read()
    other_id = kept.clients["old-000"].client_id
    _clients(p, 2, "new")
    _interrupted_apply(p, monkeypatch)
    journal = JournalAccess(p)
    original = journal.items()
    assert len(original) >= 2, original
    on_server = len(clients_of(hydra.admin_url, p.owner))
    assert on_server == 4  # the interrupted apply created both; their secrets are only in the journal

    def refused(ident: str) -> None:
        out = p.run_sub("apply", "--auto-approve")
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert lines[0].startswith(f"error: journal batch {journal.name(ident)} ") and "nothing was folded" in lines[0]
        public = _store(p).read_public()
        assert public.serial == kept.serial and set(public.clients) == set(kept.clients), "something was folded"
        assert len(clients_of(hydra.admin_url, p.owner)) == on_server, "the server was touched"

    # a record pointed at another client: the first batch (the create intents) rewritten, its MAC kept
    first_id, first, first_secret = original[0]
    assert not first_secret
    doc = json.loads(first)
    entries = json.loads(doc["batch"])
    entries[0]["data"]["client_id"] = other_id
    journal.put(first_id, json.dumps({**doc, "batch": json.dumps(entries)}).encode(), False)
    refused(first_id)
    journal.put(first_id, first, False)

    # a batch dropped: the one after it is refused
    journal.delete(first_id)
    refused(original[1][0])
    first_id = journal.put(first_id if p.kind != "postgres" else None, first, False)
    if p.kind == "postgres":  # a row put back goes to the end: move the others after it again
        for ident, data, secret in original[1:]:
            journal.delete(ident)
            journal.put(None, data, secret)
    assert [d for _, d, _ in journal.items()] == [d for _, d, _ in original]

    # a secret planted: a well-formed sops batch for the public recipient, chained to the last header
    last = _header(original[-1][1], original[-1][2])
    planted = {**last, "seq": last["seq"] + 1, "prev": last["mac"], "mac": "e" * 64,
               "batch": json.dumps([{"op": "upsert", "name": "old-001", "data": {"client_secret": "chosen"}}])}
    cipher = Sops(age_recipients=[age_key.recipient]).encrypt(
        yaml.safe_dump(planted).encode(), "journal.yaml", encrypted_regex="^batch$")
    evil = journal.put(None, cipher, True)
    refused(evil)
    journal.delete(evil)

    # nothing lost: the journal as the interrupted apply left it is folded and converges
    out = p.run_sub("apply", "--auto-approve")
    assert out.returncode == 0 and "Recovered an interrupted apply" in out.stderr, out.stdout + out.stderr
    secrets = _converged(p, hydra, 4)
    for name in ("old-000", "old-001"):
        assert secrets[kept.clients[name].client_id] == kept.clients[name].client_secret

    # an unauthenticated batch, as a pull request adding a `*.journal/` folder (or a row, an object) makes
    entries = [{"op": "upsert", "name": "old-000", "data": {"client_secret": "chosen"}}]
    forged = {"entries": entries} if p.kind == "file" else entries  # each store's format before the MAC
    legacy = journal.put(None, json.dumps(forged).encode(), False)
    serial = _store(p).read_public().serial
    out = p.run_sub("apply", "--auto-approve")
    line = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and f"journal batch {journal.name(legacy)} has no MAC" in line, out.stderr
    assert _store(p).read_public().serial == serial
    assert p.run_sub("plan").returncode == 1  # a plan with the key verifies the journal too
    journal.delete(legacy)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    _converged(p, hydra, 4)
