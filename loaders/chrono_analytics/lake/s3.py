"""The lake on S3-compatible object storage: the few object operations the lake needs, signed
with AWS Signature Version 4 by the standard library (no SDK), and DuckDB's access to the same
bucket (its httpfs extension, from the PyPI wheel).

Credentials come only from the standard environment variables, read when a store or a
connection is made, and are never logged, stored in a file or put in an error message:

``AWS_ENDPOINT_URL``       the server, e.g. ``http://127.0.0.1:9000``; default AWS S3 of the region
``AWS_ACCESS_KEY_ID``      required
``AWS_SECRET_ACCESS_KEY``  required
``AWS_REGION``             default ``us-east-1``

Requests use path-style URLs (``<endpoint>/<bucket>/<key>``), which every S3-compatible server
accepts. ``put(..., if_none_match=True)`` sends ``If-None-Match: *``: S3 creates the object only
when no object has the key (412 otherwise). A server that ignores the header (rclone's
``serve s3`` 1.75 does, see docs/architecture.md) overwrites instead; the lake's commit does not
rely on it alone (the write lock, lake/lock.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import duckdb

from chrono_analytics.lake.snapshot import LakeError

DEFAULT_REGION = "us-east-1"
_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT_SECONDS = 60.0


def is_remote(location: str | os.PathLike[str]) -> bool:
    """Whether a lake root or location is an object store URL (``s3://...``)."""
    return str(location).startswith("s3://")


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not is_remote(url):
        raise LakeError(f"{url!r} is not an s3:// URL")
    rest = url[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise LakeError(f"{url!r} names no bucket (s3://<bucket>/<prefix>)")
    return bucket, key.strip("/")


@dataclass(frozen=True)
class S3Config:
    """Where the bucket is and how to sign: from the environment (see the module)."""

    endpoint: str  # scheme://host[:port], no trailing slash
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = DEFAULT_REGION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Config:
        env = os.environ if environ is None else environ
        missing = [
            name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(name)
        ]
        if missing:
            raise LakeError(
                f"the lake is on S3 (CHRONO_LAKE_ROOT=s3://...) but {' and '.join(missing)} "
                "is not set; set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and, "
                "for a server other than AWS, AWS_ENDPOINT_URL"
            )
        region = env.get("AWS_REGION") or DEFAULT_REGION
        endpoint = (env.get("AWS_ENDPOINT_URL") or f"https://s3.{region}.amazonaws.com").rstrip("/")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LakeError(f"AWS_ENDPOINT_URL={endpoint!r} is not an http(s)://host[:port] URL")
        return cls(endpoint, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], region)

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc

    @property
    def use_ssl(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3Client:
    """Signed requests to one S3-compatible endpoint."""

    def __init__(self, config: S3Config) -> None:
        self.config = config

    # -- signing -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        config = self.config
        now = datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        path = "/" + quote(bucket, safe="") + ("/" + quote(key, safe="/-_.~") if key else "")
        params = sorted((query or {}).items())
        canonical_query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params
        )
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        signed = {
            "host": config.host,
            "x-amz-content-sha256": payload_hash,
            "x-amz-date": stamp,
        }
        names = sorted(signed)
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query,
                "".join(f"{n}:{signed[n]}\n" for n in names),
                ";".join(names),
                payload_hash,
            ]
        )
        scope = f"{day}/{config.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signing_key = _hmac(
            _hmac(_hmac(_hmac(f"AWS4{config.secret_key}".encode(), day), config.region), "s3"),
            "aws4_request",
        )
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        request_headers = {
            **{k: v for k, v in signed.items() if k != "host"},
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={config.access_key}/{scope}, "
                f"SignedHeaders={';'.join(names)}, Signature={signature}"
            ),
            **(headers or {}),
        }
        url = config.endpoint + path + (f"?{canonical_query}" if canonical_query else "")
        request = urllib.request.Request(
            url, data=body if method in ("PUT", "POST") else None, method=method
        )
        for name, value in request_headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LakeError(
                f"the object store at {config.endpoint} did not answer {method} "
                f"s3://{bucket}/{key} ({reason}); check AWS_ENDPOINT_URL and that it runs"
            ) from None

    def _fail(self, method: str, bucket: str, key: str, status: int, body: bytes) -> LakeError:
        code = message = ""
        try:
            root = ET.fromstring(body)
            code = root.findtext("Code") or ""
            message = root.findtext("Message") or ""
        except ET.ParseError:
            message = body[:200].decode(errors="replace")
        return LakeError(
            f"{method} s3://{bucket}/{key} failed: HTTP {status} {code} {message}".rstrip()
        )

    # -- operations ----------------------------------------------------------------------

    def put(self, bucket: str, key: str, body: bytes, if_none_match: bool = False) -> bool:
        """Create or replace an object in one PUT (S3 makes it visible whole or not at all);
        with `if_none_match`, False when the key already exists (412)."""
        headers = {"If-None-Match": "*"} if if_none_match else {}
        status, _headers, answer = self._request("PUT", bucket, key, body=body, headers=headers)
        if if_none_match and status in (409, 412):
            return False
        if status != 200:
            raise self._fail("PUT", bucket, key, status, answer)
        return True

    def get(self, bucket: str, key: str, byte_range: str | None = None) -> bytes | None:
        """The object's bytes (or a `Range` of them: 'bytes=-65536'); None when missing."""
        headers = {"Range": byte_range} if byte_range else {}
        status, _headers, body = self._request("GET", bucket, key, headers=headers)
        if status == 404:
            return None
        if status not in (200, 206):
            raise self._fail("GET", bucket, key, status, body)
        return body

    def head(self, bucket: str, key: str) -> int | None:
        """The object's size; None when missing."""
        status, headers, body = self._request("HEAD", bucket, key)
        if status == 404:
            return None
        if status != 200:
            raise self._fail("HEAD", bucket, key, status, body)
        lowered = {k.lower(): v for k, v in headers.items()}
        return int(lowered.get("content-length", "0"))

    def delete(self, bucket: str, key: str) -> None:
        status, _headers, body = self._request("DELETE", bucket, key)
        if status not in (200, 204, 404):
            raise self._fail("DELETE", bucket, key, status, body)

    def _list_pages(self, bucket: str, query: dict[str, str]) -> Iterator[ET.Element]:
        """The result pages of one ListObjectsV2 listing, following continuation tokens."""
        token: str | None = None
        while True:
            page_query = {"list-type": "2", **query}
            if token:
                page_query["continuation-token"] = token
            status, _headers, body = self._request("GET", bucket, query=page_query)
            if status != 200:
                raise self._fail("LIST", bucket, query.get("prefix", ""), status, body)
            root = ET.fromstring(body)
            yield root
            truncated = (root.findtext(f"{_XMLNS}IsTruncated") or "false").lower() == "true"
            token = root.findtext(f"{_XMLNS}NextContinuationToken")
            if not truncated or not token:
                return

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`."""
        for page in self._list_pages(bucket, {"prefix": prefix}):
            for item in page.iter(f"{_XMLNS}Contents"):
                key = item.findtext(f"{_XMLNS}Key") or ""
                size = int(item.findtext(f"{_XMLNS}Size") or 0)
                modified = item.findtext(f"{_XMLNS}LastModified") or ""
                yield ObjectInfo(key, size, _timestamp(modified))

    def list_folders(self, bucket: str, prefix: str) -> list[str]:
        """The names directly under `prefix` that hold objects ('folders', by delimiter)."""
        names = [
            (item.findtext(f"{_XMLNS}Prefix") or "")[len(prefix) :].strip("/")
            for page in self._list_pages(bucket, {"prefix": prefix, "delimiter": "/"})
            for item in page.iter(f"{_XMLNS}CommonPrefixes")
        ]
        return sorted(n for n in names if n)


def _timestamp(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# -- DuckDB ------------------------------------------------------------------------------------

SECRET_NAME = "chrono_lake_s3"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def configure_duckdb(conn: duckdb.DuckDBPyConnection, config: S3Config | None = None) -> None:
    """Load httpfs (from its wheel) into `conn` and give it the bucket's credentials as a
    temporary secret (in memory only; ``duckdb_secrets()`` shows it redacted)."""
    from chrono_analytics.duckdb_setup import install_extension

    config = config or S3Config.from_env()
    install_extension(conn, "httpfs")
    options: dict[str, Any] = {
        "type": "s3",
        "key_id": _literal(config.access_key),
        "secret": _literal(config.secret_key),
        "region": _literal(config.region),
        "endpoint": _literal(config.host),
        "url_style": "'path'",
        "use_ssl": "true" if config.use_ssl else "false",
    }
    body = ", ".join(f"{k} {v}" for k, v in options.items())
    try:
        conn.execute(f"create or replace temporary secret {SECRET_NAME} ({body})")
    except duckdb.Error as exc:  # the statement holds the keys: never show it
        raise LakeError(
            f"DuckDB could not take the S3 credentials ({type(exc).__name__})"
        ) from None
