"""`Dataset.File.from_files("https://...")` (one URL or a list): files downloaded at run time.

Nothing is fetched at build time. At the start of each run the reuse planner asks each URL
for its version (a HEAD request: ETag, else Last-Modified), which is part of the step's
fingerprint; the step's task downloads the files (once per version, into the run's record
datastore under `azureml/downloads/`) and hands them to the step like any datastore input.
Only http and https URLs are accepted.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from ..exceptions import UserErrorException
from .dataset import DatasetConsumptionConfig, FileDataset

SCHEMES = ("http", "https")


def is_url_path(path) -> bool:
    """A string or a list of strings with a URL scheme (`x://`): a URL dataset (or a refusal)."""
    items = path if isinstance(path, list) else [path]
    return bool(items) and all(isinstance(i, str) and "://" in i for i in items)


def check_urls(path, what: str) -> tuple[str, ...]:
    items = path if isinstance(path, list) else [path]
    for url in items:
        parts = urlsplit(url)
        if parts.scheme.lower() not in SCHEMES or not parts.netloc:
            raise UserErrorException(
                f"{what}: {url!r} is not an http(s) URL; give http:// or https:// URLs (downloaded"
                " when the step runs) or (datastore, 'path') for data on a datastore"
            )
        if "\n" in url or "\x00" in url:
            raise UserErrorException(f"{what}: {url!r} contains a control character")
    names = [url_file_name(u) for u in items]
    if len(set(names)) != len(names):
        raise UserErrorException(
            f"{what}: the URLs must end in different file names (they are downloaded into one"
            f" folder); got {', '.join(names)}"
        )
    return tuple(items)


def url_file_name(url: str) -> str:
    name = PurePosixPath(urlsplit(url).path).name
    return name if name not in ("", ".", "..") else "download"


class UrlFileDataset(FileDataset):
    """Files at http(s) URLs, downloaded for the step when it runs (on no datastore)."""

    def __init__(self, urls: tuple[str, ...], location, tabular: dict | None = None):
        self.urls = urls
        self.datastore = None
        self.path = ""
        self.paths = list(urls)
        self._location = location
        self._tabular = tabular

    def as_named_input(self, name):
        return UrlConsumptionConfig(name, self)

    def as_mount(self, path_on_compute=None):
        return UrlConsumptionConfig(None, self).as_mount(path_on_compute)

    def as_download(self, path_on_compute=None):
        return UrlConsumptionConfig(None, self).as_download(path_on_compute)

    def register(self, workspace, name, description=None, tags=None, create_new_version=False):
        from .warnings import ignored

        ignored("FileDataset.register", name=name)
        self.name, self.version = name, 1
        getattr(workspace, "datasets", {})[name] = self
        return self

    def __repr__(self) -> str:
        return f"FileDataset(urls={list(self.urls)!r})"


class UrlReference:
    """What capture binds for a URL dataset input (like a DataReference for a datastore)."""

    def __init__(self, name: str, urls, mode: str, path_on_compute, location, tabular):
        self.data_reference_name = name
        self.urls = tuple(urls)
        self.mode = mode
        self.path_on_compute = path_on_compute
        self._location = location
        self._tabular = tabular


class UrlConsumptionConfig(DatasetConsumptionConfig):
    def as_mount(self, path_on_compute=None):
        return UrlConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        return UrlConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def to_data_reference(self) -> UrlReference:
        if self._reference is None:
            d = self.dataset
            name = self.name or url_file_name(d.urls[0]).split(".")[0] or "dataset"
            self._reference = UrlReference(
                name, d.urls, self.mode, self.path_on_compute, d._location, d._tabular
            )
        return self._reference
