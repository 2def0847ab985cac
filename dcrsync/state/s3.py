"""The state in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, R2, …), over httpx.

Keys under `prefix` (default `dcrsync/`):
- `state.json`: the sops-encrypted identity document and the plain sidecar as one object, replaced
  only with a conditional write (`If-Match` its ETag as read, `If-None-Match: *` when new): two
  writers can never overwrite each other; a random nonce in the body keeps equal bodies apart;
- `journal/<serial>-<n>-<pid>.json` / `.sops`: one object per group commit of an apply, named by
  the serial of the state it was written on and a count that goes on from the last batch seen
  (never a clock: runners' clocks differ); a batch of an older serial was folded into the state
  already (a crash after the commit left it) and is skipped, then deleted;
- `lock.json`: the lock, created with `If-None-Match: *` (as Terraform's S3 backend does), holding
  who, where, when and an id that `dcrsync state unlock ID` breaks.

Requests are signed with AWS Signature Version 4 here (`sign`): dcrsync needs five S3 calls, and a
small signer over httpx (already a dependency) serves them without botocore's 80 MB.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from dcrsync.errors import BadAnswer, StateError
from dcrsync.guards.answers import ID, NUMBER, inert, kind_of, loads, misfit
from dcrsync.net.gate import store_trust
from dcrsync.net.http import DeadlineExceeded, RetryPolicy, make_client
from dcrsync.state.batches import check_base
from dcrsync.state.shared import SharedStore, Unreachable, describe, may_break, parse_lock


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(request: httpx.Request, access_key: str, secret_key: str, region: str, token: str | None = None,
         at: dt.datetime | None = None) -> None:
    """Add SigV4 headers (Authorization, x-amz-date, x-amz-content-sha256) to `request`."""
    at = at or dt.datetime.now(dt.UTC)
    amz_date, day = at.strftime("%Y%m%dT%H%M%SZ"), at.strftime("%Y%m%d")
    payload = hashlib.sha256(request.content).hexdigest()
    request.headers["x-amz-date"] = amz_date
    request.headers["x-amz-content-sha256"] = payload
    if token:
        request.headers["x-amz-security-token"] = token
    names = sorted({"host", "x-amz-date", "x-amz-content-sha256", *(
        k.lower() for k in request.headers if k.lower().startswith("x-amz-") or k.lower().startswith("if-"))})
    headers = {n: " ".join(request.headers[n].split()) for n in names}
    query = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in request.url.params.multi_items()
    )
    canonical = "\n".join([
        request.method,
        quote(request.url.path or "/", safe="/-_.~"),
        "&".join(f"{k}={v}" for k, v in query),
        "".join(f"{n}:{headers[n]}\n" for n in names),
        ";".join(names),
        payload,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )


def _code(resp: httpx.Response) -> str:
    found = re.search(rb"<Code>([^<]+)</Code>", resp.content)
    return found.group(1).decode() if found else str(resp.status_code)


#: what `state.json` must hold for dcrsync to read it
STATE_OBJECT = {"document": ID, "sidecar": ID, "serial": NUMBER}
#: seconds one request to the store may take in all, by default (`state.timeout`)
DEADLINE = 60.0
#: the most one answer of the store may weigh: the state object of ~100,000 clients
MAX_OBJECT = 128 * 1024 * 1024


def _state_object(content: bytes, where: str) -> dict[str, Any]:
    """`state.json` as dcrsync wrote it, or one line that says what is there instead."""
    try:
        body = loads(content)
    except ValueError as exc:
        deep = str(exc).startswith("JSON nested")
        wrong = str(exc) if deep else f"not JSON: it starts {inert(content[:60].decode('utf-8', 'replace'))!r}"
    else:
        wrong = misfit(body, STATE_OBJECT) if isinstance(body, dict) else f"{kind_of(body)}, not an object"
    if wrong:
        raise StateError(
            f"{where} is not a dcrsync state object ({wrong}): something else wrote it; restore an earlier "
            "version of the object (bucket versioning), or move it away and rebuild with `dcrsync state recover`"
        )
    return body


class S3Store(SharedStore):
    kind = "s3"

    def __init__(self, settings: dict[str, Any], local_dir: Path, *, allow_link_local: bool = False) -> None:
        self.endpoint = str(settings["endpoint"]).rstrip("/")
        self.bucket = str(settings["bucket"])
        prefix = str(settings.get("prefix", "dcrsync/"))
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.region = str(settings.get("region") or os.environ.get("AWS_REGION") or "us-east-1")
        self.access_key = str(settings.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID", ""))
        self.secret_key = str(settings.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        self.token = settings.get("session_token") or os.environ.get("AWS_SESSION_TOKEN")
        self.where = f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"
        super().__init__(local_dir, f"s3://{self.bucket}/{self.prefix}")  # not the endpoint: its URL may change
        if not self.access_key or not self.secret_key:
            raise StateError(
                f"{self.where}: no S3 credentials: set access_key_id/secret_access_key in `state:` "
                "(e.g. ${env:AWS_ACCESS_KEY_ID}) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            )
        # every request under an overall deadline, its answer capped, its URL checked against
        # DCRSYNC_TRUSTED_STORE, no cookies; never retried or waited out: an outage is seen at once, and
        # the caller keeps the journal locally
        self.deadline = float(settings.get("timeout", DEADLINE))
        self.http = make_client(
            timeout=30.0, deadline=self.deadline, max_connections=4,
            policy=RetryPolicy(attempts=1), trust=store_trust(allow_link_local=allow_link_local),
            max_body=MAX_OBJECT, waits=False,
        )
        self._etag: str | None = None  # the state object's ETag as last read
        self._base = 0  # the serial of the state object as last read: journal batches go on top of it
        self._n: int | None = None  # the last journal batch's count on that serial

    # --- HTTP ------------------------------------------------------------------------------
    def _url(self, key: str = "") -> str:
        return f"{self.endpoint}/{quote(self.bucket)}/{quote(key, safe='/-_.~')}"

    def _call(self, method: str, key: str, body: bytes = b"", headers: dict[str, str] | None = None,
              params: dict[str, str] | None = None) -> httpx.Response:
        url = self._url(key) if key or method != "GET" or params is None else f"{self.endpoint}/{quote(self.bucket)}"
        request = self.http.build_request(method, url, content=body, headers=headers or {}, params=params)
        sign(request, self.access_key, self.secret_key, self.region, self.token)
        resp = self._send(request)
        if resp.status_code >= 500:
            raise Unreachable(f"{self.where} answered {resp.status_code} {_code(resp)}")
        if resp.status_code in (401, 403):
            raise StateError(f"{self.where} refused dcrsync's credentials ({_code(resp)}): check the S3 keys and policy")
        if resp.status_code == 404 and _code(resp) == "NoSuchBucket":
            raise StateError(
                f"{self.where}: the bucket {self.bucket} does not exist; create it with `dcrsync state init` (or "
                f"`aws s3 mb s3://{self.bucket} --endpoint-url {self.endpoint}`), preferably with versioning on"
            )
        return resp

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.http.send(request)
        except DeadlineExceeded:
            raise Unreachable(f"{self.where} did not finish answering within {self.deadline:g} s "
                              "(state.timeout)") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{self.where} did not answer ({exc.__class__.__name__})") from None
        except BadAnswer as exc:
            raise StateError(f"{self.where}: {str(exc).split(';')[0]}; check that state.endpoint in dcrsync.yaml is "
                             "the S3 service") from None

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": self.prefix + prefix}
            if token:
                params["continuation-token"] = token
            resp = self._call("GET", "", params=params)
            keys += [k.decode() for k in re.findall(rb"<Key>([^<]+)</Key>", resp.content)]
            found = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", resp.content)
            if b"<IsTruncated>true</IsTruncated>" not in resp.content or not found:
                return sorted(keys)
            token = found.group(1).decode()

    # --- engine ----------------------------------------------------------------------------
    def _fetch(self) -> tuple[bytes, bytes] | None:
        resp = self._call("GET", self.prefix + "state.json")
        if resp.status_code == 404:
            self._etag, self._base = None, 0
            return None
        if resp.status_code != 200:
            raise StateError(f"{self.where}: reading state.json failed ({resp.status_code} {_code(resp)})")
        body = _state_object(resp.content, f"s3://{self.bucket}/{self.prefix}state.json at {self.endpoint}")
        self._etag = resp.headers.get("etag")
        self._base = int(body.get("serial") or 0)
        return body["document"].encode(), body["sidecar"].encode()

    def _journal_keys(self) -> list[str]:
        """This state's batches in order (those of an older serial are folded in already)."""
        live = []
        for key in self._keys("journal/"):
            parts = key.rsplit("/", 1)[-1].split(".", 1)[0].split("-")
            if len(parts) == 3 and parts[0].isdigit() and int(parts[0]) >= self._base:
                live.append((int(parts[0]), int(parts[1]), key))
        live.sort()
        self._n = max([n for s, n, _ in live if s == self._base], default=0)
        return [k for _, _, k in live]

    def _journal(self) -> list[tuple[str, bytes, bool]]:
        out = []
        for key in self._journal_keys():
            resp = self._call("GET", key)
            if resp.status_code == 200:
                out.append((f"s3://{self.bucket}/{key}", resp.content, key.endswith(".sops")))
        return out

    def _has_journal(self) -> bool:
        self._fetch()
        return bool(self._journal_keys())

    def _append(self, data: bytes, secret: bool) -> None:
        if self._n is None:
            self._fetch()
            self._journal_keys()
        assert self._n is not None
        self._n += 1
        key = f"{self.prefix}journal/{self._base:012d}-{self._n:08d}-{os.getpid()}.{'sops' if secret else 'json'}"
        resp = self._call("PUT", key, data, {"If-None-Match": "*"})
        if resp.status_code != 200:
            raise StateError(f"{self.where}: writing a journal batch failed ({resp.status_code} {_code(resp)})")

    def _commit(self, serial: int, document: bytes, sidecar: bytes, base: str) -> None:
        stored = self._fetch()  # the ETag the write is conditional on is the one of the state checked here
        check_base(base, None if stored is None else stored[0], self.where)
        if self._lock is not None:
            held = self._call("GET", self.prefix + "lock.json")
            if held.status_code != 200 or json.loads(held.content).get("id") != self._lock["id"]:
                raise StateError(
                    f"the lock on {self.where} was broken (`dcrsync state unlock`) while this run held it; "
                    "nothing was written: run again"
                )
        folded = self._keys("journal/")
        body = json.dumps({
            "version": 1, "serial": serial, "nonce": str(uuid.uuid4()),
            "document": document.decode(), "sidecar": sidecar.decode(),
        }).encode()
        cond = {"If-Match": self._etag} if self._etag else {"If-None-Match": "*"}
        resp = self._call("PUT", self.prefix + "state.json", body, cond)
        if resp.status_code in (404, 409, 412):
            raise StateError(
                f"{self.where}: the state was changed by another writer since this run read it; nothing was "
                "overwritten: run again"
            )
        if resp.status_code != 200:
            raise StateError(f"{self.where}: writing the state failed ({resp.status_code} {_code(resp)})")
        self._etag = resp.headers.get("etag")
        self._base, self._n = serial, 0
        for key in folded:  # their serial is now older than the state's: a crash here leaves them skipped
            self._call("DELETE", key)

    def _ping(self) -> None:
        self._keys("lock")

    def prepare(self) -> str:
        """Create the bucket (`dcrsync state init`); one that exists already is left as it is."""
        config = b""
        if self.region != "us-east-1":  # S3 wants the region said again in the body, except for its first
            config = (f'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                      f"<LocationConstraint>{self.region}</LocationConstraint></CreateBucketConfiguration>").encode()
        request = self.http.build_request("PUT", f"{self.endpoint}/{quote(self.bucket)}", content=config)
        sign(request, self.access_key, self.secret_key, self.region, self.token)
        resp = self._send(request)
        if resp.status_code == 200:
            return f"Created the bucket {self.bucket} at {self.endpoint}; the state goes under {self.prefix or '/'}."
        if _code(resp) == "BucketAlreadyOwnedByYou":
            return f"The bucket {self.bucket} at {self.endpoint} exists already (yours); nothing was changed."
        raise StateError(f"{self.where}: creating the bucket {self.bucket} failed ({resp.status_code} {_code(resp)})")

    def _try_lock(self, info: dict[str, Any]) -> dict[str, Any] | None:
        resp = self._call("PUT", self.prefix + "lock.json", json.dumps(info).encode(), {"If-None-Match": "*"})
        if resp.status_code == 200:
            return None
        if resp.status_code not in (409, 412):
            raise StateError(f"{self.where}: taking the lock failed ({resp.status_code} {_code(resp)})")
        return self.lock_holder() or {}

    def _take_over(self, info: dict[str, Any], stale: dict[str, Any]) -> bool:
        resp = self._call("GET", self.prefix + "lock.json")
        if resp.status_code != 200 or json.loads(resp.content).get("id") != stale.get("id"):
            return False
        put = self._call("PUT", self.prefix + "lock.json", json.dumps(info).encode(),
                         {"If-Match": resp.headers.get("etag", "")})
        if put.status_code != 200:
            return False
        sys.stderr.write(f"note: took over the lock on {self.where} left by a killed run ({describe(stale)})\n")
        return True

    def _unlock(self, info: dict[str, Any]) -> None:
        held = self.lock_holder()
        if held is not None and held.get("id") == info["id"]:
            self._call("DELETE", self.prefix + "lock.json")

    def lock_holder(self) -> dict[str, Any] | None:
        resp = self._call("GET", self.prefix + "lock.json")
        if resp.status_code != 200:
            return None
        return parse_lock(resp.content)

    def break_lock(self, lock_id: str | None) -> str:
        """Delete the lock object when it is LOCK_ID (only that one), or when it is unreadable (it then
        has no id to name it by)."""
        held = may_break(self.where, self.lock_holder(), lock_id)
        # MinIO ignores If-Match on DELETE (AWS honours it): the lock was checked just above
        self._call("DELETE", self.prefix + "lock.json")
        return describe(held)
