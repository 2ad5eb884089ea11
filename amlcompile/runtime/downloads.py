"""Inputs at http(s) URLs (`Dataset.File.from_files("https://...")`): their version when a run
is planned, and their download on the worker.

The planner asks each URL for its version with a HEAD request (ETag, else Last-Modified); the
versions are part of the step's fingerprint, so an unchanged file lets the step be reused and
a changed one reruns it. A server that gives neither is asked again every run and never
reused. The step's task downloads the files once per version into its record datastore
(`azureml/downloads/<digest of URLs and versions>/<file name>`), checking that what it gets is
the version that was planned, and binds that folder like any datastore input.
Standard library only (urllib); proxies come from the usual environment variables.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .binding import StepError
from .reuse import digest
from .storage import copy_tree

TIMEOUT_SECONDS = float(os.environ.get("AMLCOMPILE_DOWNLOAD_TIMEOUT", "60"))
DOWNLOADS = "azureml/downloads"
UNVERSIONED = "unversioned:"
_HEADERS = {"User-Agent": "amlcompile"}


def url_file_name(url: str) -> str:
    """The file name a URL is saved under (the same rule as the build's)."""
    name = PurePosixPath(urlsplit(url).path).name
    return name if name not in ("", ".", "..") else "download"


def _checked(url: str, step: str) -> str:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise StepError(f"step {step!r}: input URL {url!r} is not http(s)")
    return url


def _validator(headers) -> str | None:
    etag = headers.get("ETag")
    if etag:
        return f"etag:{etag}"
    modified = headers.get("Last-Modified")
    return f"last-modified:{modified}" if modified else None


def input_urls(port: dict, params: dict, step: str) -> list[str]:
    """The URLs of an input: fixed, or a dataset parameter's value (one http(s) URL, or
    several separated by spaces) chosen at trigger time."""
    name = port.get("param")
    value = params.get(name) if name else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return list(port["urls"])
    if not isinstance(value, str):
        raise StepError(
            f"step {step!r}: dataset parameter {name!r} must be a string of http(s) URLs,"
            f" got {type(value).__name__}"
        )
    urls = value.split()
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise StepError(
                f"step {step!r}: dataset parameter {name!r}: {url!r} is not an http(s) URL"
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
            raise StepError(
                f"step {step!r}: dataset parameter {name!r}: {url!r} has a control character"
            )
    names = [url_file_name(u) for u in urls]
    if len(set(names)) != len(names):
        raise StepError(
            f"step {step!r}: dataset parameter {name!r}: the URLs must end in different file"
            f" names (they are downloaded into one folder); got {', '.join(names)}"
        )
    return urls


def url_version(url: str, step: str, log=None) -> str:
    """The version of the file at `url` now (a HEAD request)."""
    request = urllib.request.Request(_checked(url, step), method="HEAD", headers=_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            version = _validator(response.headers)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StepError(f"step {step!r}: cannot read the version of input {url}: {exc}") from None
    if version is None:
        if log:
            log.warning(
                "step %s: %s gives no ETag or Last-Modified; it is downloaded again and the step"
                " is not reused",
                step,
                url,
            )
        return UNVERSIONED + uuid.uuid4().hex
    return version


def download_path(urls: list[str], versions: list[str]) -> str:
    """Where on the record datastore these versions of these URLs are downloaded to."""
    return f"{DOWNLOADS}/{digest({'urls': list(urls), 'versions': list(versions)})[:32]}"


def fetch(urls: list[str], versions: list[str], root, rel: str, step: str, log=None) -> None:
    """Download the URLs into `root/rel/` unless that version is there already (a marker
    `rel.complete` beside the folder says so)."""
    done = root / f"{rel}.complete"
    if done.exists():
        return
    with tempfile.TemporaryDirectory(prefix="amlcompile-download-") as tmp:
        for url, planned in zip(urls, versions, strict=True):
            target = os.path.join(tmp, url_file_name(url))
            request = urllib.request.Request(_checked(url, step), headers=_HEADERS)
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                    got = _validator(response.headers)
                    if not planned.startswith(UNVERSIONED) and got != planned:
                        raise StepError(
                            f"step {step!r}: input {url} changed since this run was planned"
                            f" ({planned} then, {got} now); start a new run"
                        )
                    with open(target, "wb") as fh:
                        shutil.copyfileobj(response, fh)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise StepError(f"step {step!r}: cannot download input {url}: {exc}") from None
            if log:
                log.info("step %s: downloaded %s (%s)", step, url, got or "no version")
        copy_tree(Path(tmp), root / rel)  # to a local folder or object storage
    done.write_bytes(b"")
