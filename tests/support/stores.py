"""The state stores in tests: a project pointed at the session's PostgreSQL or MinIO, and the journal as
a writer to a store sees it (to tamper with it as one could)."""

from __future__ import annotations

import json
import uuid

import psycopg


def settings(kind: str, label: str, postgres=None, s3=None) -> dict:
    if kind == "postgres":
        return {"kind": "postgres", "dsn": "${env:DCRSYNC_PG_DSN}", "schema": "dcrsync", "name": label}
    return {"kind": "s3", "endpoint": s3.endpoint, "bucket": "dcrsync-state", "prefix": f"{label}/",
            "region": s3.region, "access_key_id": "${env:DCRSYNC_S3_KEY}", "secret_access_key": "${env:DCRSYNC_S3_SECRET}"}


def use_shared_store(p, kind: str, request, monkeypatch):
    """Point project `p` at a fresh state on the session's PostgreSQL or MinIO (`p.kind`, `p.server`)."""
    label = f"sh-{kind}-{uuid.uuid4().hex[:10]}"  # owner and state name, unique per test and store
    p.owner = label
    p.set_config(owner=label)
    if kind == "postgres":
        server = request.getfixturevalue("postgres")
        monkeypatch.setenv("DCRSYNC_PG_DSN", server.dsn)
        where = settings(kind, label, postgres=server)
    else:
        server = request.getfixturevalue("s3")
        with server.client() as c:
            c.create_bucket("dcrsync-state")
        monkeypatch.setenv("DCRSYNC_S3_KEY", server.access_key)
        monkeypatch.setenv("DCRSYNC_S3_SECRET", server.secret_key)
        where = settings(kind, label, s3=server)
    p.set_config(state=where)
    p.kind, p.server, p.label = kind, server, label
    return p


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
                serial = store_of(self.p).read_public().serial
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




def store_of(p):
    """Project `p`'s store, opened as the CLI opens it, with the key."""
    from dcrsync.project.opening import open_project

    project = open_project(str(p.config), None)
    project.unlock()
    return project.store


def stored_document(p) -> bytes:
    """The state's sops document as the store holds it."""
    if p.kind == "file":
        return p.state.read_bytes()
    if p.kind == "postgres":
        with psycopg.connect(p.server.dsn) as c:
            return bytes(c.execute("SELECT document FROM dcrsync.states WHERE name = %s", (p.label,)).fetchone()[0])
    with p.server.client() as c:
        return json.loads(c.get_object("dcrsync-state", f"{p.label}/state.json").content)["document"].encode()


def replace_document(p, document: bytes) -> None:
    """Put another sops document in the state's place, as a writer to the store (or git) can."""
    if p.kind == "file":
        p.state.write_bytes(document)
    elif p.kind == "postgres":
        with psycopg.connect(p.server.dsn) as c:
            c.execute("UPDATE dcrsync.states SET document = %s WHERE name = %s", (document, p.label))
    else:
        with p.server.client() as c:
            key = f"{p.label}/state.json"
            body = json.loads(c.get_object("dcrsync-state", key).content)
            c.put_object("dcrsync-state", key, json.dumps({**body, "document": document.decode()}).encode())
