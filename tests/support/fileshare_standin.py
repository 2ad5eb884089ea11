"""A loopback stand-in for the Azure Files REST API (Azurite has no File service).

It serves the subset `azure-storage-file-share` uses for amlcompile's filesystem: shares
(create, properties), directories (create, properties, list with extended info, delete) and
files (create, Put Range, Get with ranges, properties, Rename, delete), with the service's
status codes and error codes where callers depend on them: 409 ResourceAlreadyExists on an
existing directory or a rename onto an existing file without replace, 404 ShareNotFound /
ParentNotFound / ResourceNotFound, 409 DirectoryNotEmpty, 416 InvalidRange, 206 with
Content-Range for ranged reads. Requests must carry a SharedKey Authorization header for the
account (the signature itself is not verified). Everything lives in memory.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

ACCOUNT = "devstoreaccount1"
# Azurite's documented well-known development key (public, not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
API_VERSION = "2025-11-05"


class Node:
    def __init__(self, kind: str, size: int = 0, stamp: dt.datetime | None = None):
        self.kind = kind  # "file" or "directory"
        self.data = bytearray(size)
        self.touch(stamp)

    def touch(self, stamp: dt.datetime | None = None) -> None:
        self.modified = stamp or dt.datetime.now(dt.UTC)
        self.etag = f'"0x{next(_ETAGS):016X}"'


_ETAGS = itertools.count(0x8DC0000000000000)


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str = ""):
        super().__init__(message or code)
        self.status, self.code, self.message = status, code, message or code


class FileShareStandin:
    """`.conn_id` names the Airflow connection the fixture puts in the environment."""

    def __init__(self, conn_id: str = "fileshare"):
        self.conn_id = conn_id
        self.shares: dict[str, dict[str, Node]] = {}  # share → path inside it → node
        self.requests: list[tuple[str, str]] = []  # (method, path?query)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"FileEndpoint={self.endpoint};"
        )

    def connection(self) -> dict:
        """An Airflow connection (JSON form) as AzureFileShareHook reads it."""
        return {
            "conn_type": "azure_fileshare",
            "extra": {"connection_string": self.connection_string},
        }

    def env(self) -> dict[str, str]:
        return {f"AIRFLOW_CONN_{self.conn_id.upper()}": json.dumps(self.connection())}

    def create_share(self, name: str) -> str:
        with self._lock:
            self.shares[name] = {"": Node("directory")}
        return name

    def start(self) -> FileShareStandin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- the API ----
    def handle(self, method: str, raw_path: str, headers, body: bytes):
        """→ (status, headers, body)."""
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        segments = [unquote(s) for s in url.path.split("/") if s]
        if not segments:
            raise ServiceError(400, "InvalidUri", "no share in the URL")
        share, rel = segments[0], "/".join(segments[1:])
        restype, comp = query.get("restype"), query.get("comp")
        if restype == "share":
            return self._share_op(method, share)
        tree = self.shares.get(share)
        if tree is None:
            raise ServiceError(404, "ShareNotFound", f"share {share} does not exist")
        if restype == "directory":
            if comp == "list":
                return self._list(tree, share, rel, query)
            return self._directory_op(method, tree, rel)
        if comp == "range":
            return self._put_range(tree, rel, headers, body)
        if comp == "rename":
            return self._rename(tree, share, rel, headers)
        if comp is not None:
            raise ServiceError(400, "UnsupportedQueryParameter", f"comp={comp} not served")
        return self._file_op(method, tree, rel, headers)

    def _share_op(self, method: str, share: str):
        if method == "PUT":
            if share in self.shares:
                raise ServiceError(409, "ShareAlreadyExists")
            self.shares[share] = {"": Node("directory")}
            return 201, _props(self.shares[share][""]), b""
        if share not in self.shares:
            raise ServiceError(404, "ShareNotFound")
        if method in ("GET", "HEAD"):
            return 200, {**_props(self.shares[share][""]), "x-ms-share-quota": "5120"}, b""
        if method == "DELETE":
            del self.shares[share]
            return 202, {}, b""
        raise ServiceError(405, "UnsupportedHttpVerb")

    @staticmethod
    def _parent_exists(tree: dict, rel: str) -> bool:
        parent = rel.rpartition("/")[0]
        node = tree.get(parent)
        return node is not None and node.kind == "directory"

    @classmethod
    def _not_found(cls, tree: dict, rel: str) -> ServiceError:
        """The service says ParentNotFound when the path's parent is missing, else
        ResourceNotFound (also for a file asked as a directory and the reverse)."""
        if rel and not cls._parent_exists(tree, rel):
            return ServiceError(404, "ParentNotFound", "the specified parent path does not exist")
        return ServiceError(404, "ResourceNotFound", "the specified resource does not exist")

    def _directory_op(self, method: str, tree: dict, rel: str):
        node = tree.get(rel)
        if method == "PUT":
            if node is not None:
                raise ServiceError(409, "ResourceAlreadyExists", f"{rel} exists")
            if not self._parent_exists(tree, rel):
                raise ServiceError(404, "ParentNotFound")
            tree[rel] = Node("directory")
            return 201, _props(tree[rel]), b""
        if node is None or node.kind != "directory":
            raise self._not_found(tree, rel)
        if method in ("GET", "HEAD"):
            return 200, _props(node), b""
        if method == "DELETE":
            if not rel:
                raise ServiceError(400, "InvalidResourceName", "the root cannot be deleted")
            if any(p.startswith(rel + "/") for p in tree):
                raise ServiceError(409, "DirectoryNotEmpty")
            del tree[rel]
            return 202, {}, b""
        raise ServiceError(405, "UnsupportedHttpVerb")

    def _list(self, tree: dict, share: str, rel: str, query: dict):
        node = tree.get(rel)
        if node is None or node.kind != "directory":
            raise self._not_found(tree, rel)
        prefix = f"{rel}/" if rel else ""
        children = sorted(
            (p[len(prefix) :], n)
            for p, n in tree.items()
            if p and p.startswith(prefix) and "/" not in p[len(prefix) :]
        )
        wanted = query.get("prefix") or ""
        children = [(name, n) for name, n in children if name.startswith(wanted)]
        start = int(query.get("marker") or 0)
        limit = int(query.get("maxresults") or 5000)
        page = children[start : start + limit]
        next_marker = str(start + limit) if start + limit < len(children) else ""
        entries = []
        for name, n in page:
            props = f"<Last-Modified>{_http_date(n.modified)}</Last-Modified><Etag>{n.etag}</Etag>"
            if n.kind == "file":
                props = f"<Content-Length>{len(n.data)}</Content-Length>" + props
                tag = "File"
            else:
                tag = "Directory"
            entries.append(
                f"<{tag}><Name>{escape(name)}</Name><FileId>{id(n)}</FileId>"
                f"<Properties>{props}</Properties></{tag}>"
            )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="{self.endpoint}/" ShareName="{escape(share)}"'
            f' DirectoryPath="{escape(rel)}"><Prefix>{escape(wanted)}</Prefix>'
            f"<MaxResults>{limit}</MaxResults><Entries>{''.join(entries)}</Entries>"
            f"<NextMarker>{next_marker}</NextMarker></EnumerationResults>"
        ).encode()
        return 200, {"Content-Type": "application/xml"}, xml

    def _file_op(self, method: str, tree: dict, rel: str, headers):
        node = tree.get(rel)
        if method == "PUT":
            if headers.get("x-ms-type", "").lower() != "file":
                raise ServiceError(400, "MissingRequiredHeader", "x-ms-type")
            if node is not None and node.kind == "directory":
                raise ServiceError(409, "ResourceAlreadyExists")
            if not self._parent_exists(tree, rel):
                raise ServiceError(404, "ParentNotFound")
            size = int(headers.get("x-ms-content-length", "0"))
            tree[rel] = Node("file", size)  # Create File replaces an existing file
            return 201, _props(tree[rel]), b""
        if node is None or node.kind != "file":
            raise self._not_found(tree, rel)
        if method == "HEAD":
            return 200, {**_props(node), "Content-Length": str(len(node.data))}, b""
        if method == "GET":
            return self._get(node, headers)
        if method == "DELETE":
            del tree[rel]
            return 202, {}, b""
        raise ServiceError(405, "UnsupportedHttpVerb")

    @staticmethod
    def _get(node: Node, headers):
        text = headers.get("x-ms-range") or headers.get("Range")
        size = len(node.data)
        if not text:
            return 200, {**_props(node), "Content-Length": str(size)}, bytes(node.data)
        first, last = _parse_range(text)
        if first >= size:
            raise ServiceError(416, "InvalidRange", f"bytes */{size}")
        last = size - 1 if last is None else min(last, size - 1)
        data = bytes(node.data[first : last + 1])
        return (
            206,
            {
                **_props(node),
                "Content-Range": f"bytes {first}-{last}/{size}",
                "Content-Length": str(len(data)),
            },
            data,
        )

    @staticmethod
    def _put_range(tree: dict, rel: str, headers, body: bytes):
        node = tree.get(rel)
        if node is None or node.kind != "file":
            raise ServiceError(404, "ResourceNotFound")
        first, last = _parse_range(headers.get("x-ms-range") or headers.get("Range") or "")
        if last is None or last >= len(node.data) or last - first + 1 > 4 * 1024 * 1024:
            raise ServiceError(416, "InvalidRange")
        if headers.get("x-ms-write", "update") == "clear":
            node.data[first : last + 1] = bytes(last - first + 1)
        else:
            if len(body) != last - first + 1:
                raise ServiceError(400, "InvalidHeaderValue", "body length differs from range")
            node.data[first : last + 1] = body
        node.touch()
        return 201, _props(node), b""

    def _rename(self, tree: dict, share: str, rel: str, headers):
        source_url = headers.get("x-ms-file-rename-source")
        if not source_url:
            raise ServiceError(400, "MissingRequiredHeader", "x-ms-file-rename-source")
        segments = [unquote(s) for s in urlsplit(source_url).path.split("/") if s]
        if not segments or segments[0] != share:
            raise ServiceError(400, "InvalidHeaderValue", "rename across shares")
        source = "/".join(segments[1:])
        node = tree.get(source)
        if node is None or node.kind != "file":
            raise ServiceError(404, "ResourceNotFound", f"{source} does not exist")
        if not self._parent_exists(tree, rel):
            raise ServiceError(404, "ParentNotFound")
        existing = tree.get(rel)
        replace = headers.get("x-ms-file-rename-replace-if-exists", "false").lower() == "true"
        if existing is not None and (existing.kind == "directory" or not replace):
            raise ServiceError(409, "ResourceAlreadyExists", f"{rel} exists")
        tree[rel] = tree.pop(source)  # one step under the lock: atomic for every reader
        return 200, _props(tree[rel]), b""

    # ---- HTTP ----
    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                standin.requests.append((self.command, self.path))
                auth = self.headers.get("Authorization", "")
                try:
                    if not auth.startswith(f"SharedKey {ACCOUNT}:"):
                        raise ServiceError(403, "AuthenticationFailed", "no SharedKey signature")
                    if not self.headers.get("x-ms-version"):
                        raise ServiceError(400, "MissingRequiredHeader", "x-ms-version")
                    with standin._lock:
                        status, headers, data = standin.handle(
                            self.command, self.path, self.headers, body
                        )
                except ServiceError as err:
                    status = err.status
                    headers = {"x-ms-error-code": err.code, "Content-Type": "application/xml"}
                    data = (
                        '<?xml version="1.0" encoding="utf-8"?><Error>'
                        f"<Code>{err.code}</Code><Message>{escape(err.message)}</Message></Error>"
                    ).encode()
                    if err.status == 416:
                        headers["Content-Range"] = err.message
                self.send_response(status)
                headers = {
                    "x-ms-request-id": f"standin-{len(standin.requests)}",
                    "x-ms-version": API_VERSION,
                    **headers,
                }
                headers.setdefault("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_HEAD = _serve

        return Handler


def _http_date(stamp: dt.datetime) -> str:
    return format_datetime(stamp.astimezone(dt.UTC), usegmt=True)


def _props(node: Node) -> dict:
    iso = node.modified.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return {
        "ETag": node.etag,
        "Last-Modified": _http_date(node.modified),
        "x-ms-type": "File" if node.kind == "file" else "Directory",
        "x-ms-file-creation-time": iso,
        "x-ms-file-last-write-time": iso,
        "x-ms-file-change-time": iso,
        "x-ms-file-attributes": "Archive" if node.kind == "file" else "Directory",
        "x-ms-file-permission-key": "standin-permission",
        "x-ms-file-id": str(id(node)),
        "x-ms-file-parent-id": "0",
        "x-ms-request-server-encrypted": "true",
        "x-ms-server-encrypted": "true",
    }


def _parse_range(text: str) -> tuple[int, int | None]:
    unit, _, span = text.partition("=")
    first, _, last = span.partition("-")
    if unit.strip() != "bytes" or not first.strip().isdigit():
        raise ServiceError(400, "InvalidHeaderValue", f"bad range {text!r}")
    return int(first), int(last) if last.strip() else None
