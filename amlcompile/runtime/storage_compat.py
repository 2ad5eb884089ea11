"""Datastore access as the worker sees it: local folders (storage.py adds remote stores)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .binding import datastore_root


def copy_tree(src, dst) -> None:
    """Copy a file to a file, or a folder's content into a folder."""
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


__all__ = ["copy_tree", "datastore_root"]
