"""Start a real S3 server (MinIO, built from its Go module by scripts/build-minio.sh) and talk
to it with httpx and a small AWS Signature Version 4 signer.

    s3 = start_minio(workdir)             # free 127.0.0.1 port, temp data dir, fixed test keys
    s3.endpoint, s3.access_key, s3.secret_key, s3.region
    client = s3.client()                  # S3Client: signed httpx requests
    client.create_bucket("b"); client.put_object("b", "k", b"...", if_none_match="*")
    s3.stop()

The binary is `$DCRSYNC_MINIO_BIN` if set, else `$CACHE/bin/minio-<version>/minio`; when absent,
scripts/build-minio.sh builds it (several minutes the first time, under a second afterwards).

The signer and client here are test plumbing, kept independent of whatever S3 client the
product uses, so a test can tell a product bug from a server's behaviour.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote

import httpx

from tests.servers.launch import (
    RunningServer,
    ServerProcess,
    cache_dir,
    free_port,
    installed_binary,
    wait_http_ok,
)

MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"  # keep in line with scripts/build-minio.sh
READY_DEADLINE = 60.0
TEST_ACCESS_KEY = "dcrsync-test"
TEST_SECRET_KEY = "dcrsync-test-secret-key"  # a throwaway server's fixed key, on 127.0.0.1 only
TEST_REGION = "us-east-1"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


# --- AWS Signature Version 4 ---------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _uri_encode(text: str, *, keep_slash: bool) -> str:
    return quote(text, safe="-_.~" + ("/" if keep_slash else ""))


class SigV4Auth(httpx.Auth):
    """Signs each request with AWS SigV4 (header form, payload hash in x-amz-content-sha256)."""

    requires_request_body = True

    def __init__(self, access_key: str, secret_key: str, region: str, service: str = "s3") -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request, dt.datetime.now(dt.UTC))
        yield request

    def sign(self, request: httpx.Request, now: dt.datetime) -> None:
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        payload_hash = hashlib.sha256(request.content).hexdigest()
        request.headers["x-amz-date"] = amz_date
        request.headers["x-amz-content-sha256"] = payload_hash
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        canonical_uri = _uri_encode(unquote(raw_path) or "/", keep_slash=True)
        query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        canonical_query = "&".join(
            f"{_uri_encode(k, keep_slash=False)}={_uri_encode(v, keep_slash=False)}" for k, v in sorted(query)
        )
        signed = {"host": request.headers["host"], "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        signed_names = ";".join(sorted(signed))
        canonical_headers = "".join(f"{name}:{signed[name].strip()}\n" for name in sorted(signed))
        canonical_request = "\n".join(
            [request.method, canonical_uri, canonical_query, canonical_headers, signed_names, payload_hash]
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = _hmac(("AWS4" + self.secret_key).encode(), day)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        request.headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )


# --- a minimal S3 client (path-style) ------------------------------------------------------


class S3Client:
    """Path-style S3 requests over httpx; every method returns the raw httpx.Response."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.http = httpx.Client(auth=SigV4Auth(access_key, secret_key, region), timeout=30)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> S3Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
    ) -> httpx.Response:
        path = "/" + bucket + ("/" + quote(key, safe="/-_.~") if key else "")
        return self.http.request(
            method, self.endpoint + path, params=params, headers=headers, content=content
        )

    def create_bucket(self, bucket: str) -> httpx.Response:
        return self.request("PUT", bucket)

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_none_match: str | None = None,
        if_match: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> httpx.Response:
        headers = {"content-type": content_type}
        if if_none_match is not None:
            headers["if-none-match"] = if_none_match
        if if_match is not None:
            headers["if-match"] = if_match
        return self.request("PUT", bucket, key, headers=headers, content=body)

    def get_object(self, bucket: str, key: str) -> httpx.Response:
        return self.request("GET", bucket, key)

    def delete_object(self, bucket: str, key: str) -> httpx.Response:
        return self.request("DELETE", bucket, key)

    def list_keys(self, bucket: str, prefix: str = "", *, page_size: int = 1000) -> list[str]:
        """ListObjectsV2 under `prefix`, `page_size` keys a request, following continuation tokens."""
        keys: list[str] = []
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": prefix, "max-keys": str(page_size)}
            if token:
                params["continuation-token"] = token
            resp = self.request("GET", bucket, params=params)
            resp.raise_for_status()
            root = ET.fromstring(resp.content)
            keys.extend(el.text or "" for el in root.iter(f"{S3_NS}Key"))
            if root.findtext(f"{S3_NS}IsTruncated") != "true":
                return keys
            token = root.findtext(f"{S3_NS}NextContinuationToken")


def error_code(resp: httpx.Response) -> str:
    """The <Code> of an S3 XML error body ("" when there is none, e.g. for HEAD)."""
    try:
        return ET.fromstring(resp.content).findtext("Code") or ""
    except ET.ParseError:
        return ""


# --- the MinIO launcher -------------------------------------------------------------------


@dataclass
class MinioInstance(RunningServer):
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    binary: Path
    process: ServerProcess
    startup_seconds: float = 0.0

    def client(self) -> S3Client:
        return S3Client(self.endpoint, self.access_key, self.secret_key, self.region)


def minio_binary() -> Path:
    """`DCRSYNC_MINIO_BIN`, else the cached build (built now if missing)."""
    cached = cache_dir() / "bin" / f"minio-{MINIO_VERSION}" / "minio"
    return installed_binary("DCRSYNC_MINIO_BIN", cached, "build-minio.sh",
                            env={"DCRSYNC_MINIO_VERSION": MINIO_VERSION}, timeout=3600)


def start_minio(
    workdir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    ready_deadline: float = READY_DEADLINE,
) -> MinioInstance:
    """`minio server` on one fresh data directory in `workdir`, on free 127.0.0.1 ports."""
    binary = minio_binary()
    data_dir = workdir / "minio-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port, console_port = free_port(), free_port()
    while console_port == port:
        console_port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "MINIO_ROOT_USER": TEST_ACCESS_KEY,
        "MINIO_ROOT_PASSWORD": TEST_SECRET_KEY,
        "MINIO_REGION": TEST_REGION,
        "MINIO_BROWSER": "off",  # no web console
        "MINIO_UPDATE": "off",  # never looks for a newer release
        # Set always, not only where CI=true: small buffer pool, no root-drive check, same
        # behaviour on a developer's machine as in CI.
        "MINIO_CI_CD": "1",
        **(extra_env or {}),
    }
    args = [
        binary, "server", data_dir, "--quiet", "--anonymous",
        "--address", f"127.0.0.1:{port}", "--console-address", f"127.0.0.1:{console_port}",
    ]
    started = time.monotonic()
    proc = ServerProcess.start("minio", args, workdir, env=env)
    try:
        wait_http_ok(f"{endpoint}/minio/health/live", ready_deadline, proc)
        wait_http_ok(f"{endpoint}/minio/health/ready", ready_deadline, proc)
        wait_http_ok(f"{endpoint}/minio/health/cluster", ready_deadline, proc)
    except BaseException:
        proc.stop()
        raise
    return MinioInstance(
        endpoint, TEST_ACCESS_KEY, TEST_SECRET_KEY, TEST_REGION, data_dir, binary, proc,
        time.monotonic() - started,
    )

