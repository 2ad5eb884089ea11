"""Issue 16, uploads (`Datastore.upload_files` / `upload`, performed by deploy and run): a copy
on a local datastore is a new file stamped now, not one carrying its source's (perhaps put
back) mtime, and nothing is written through a link out of the datastore."""

from __future__ import annotations

import os
import time

import pytest

from amlcompile import uploads


def entry(root, pairs):
    store = {"kind": "local", "path": str(root), "conn_id": None}
    return uploads.entry_for("ds", store, pairs, overwrite=True)


def test_an_uploaded_file_does_not_carry_its_sources_mtime(tmp_path):
    src = tmp_path / "src" / "data.csv"
    src.parent.mkdir()
    src.write_text("a,b\n1,2\n")
    old = time.time() - 10 * 86400
    os.utime(src, (old, old))
    root = tmp_path / "datastore"
    before = time.time() - 1
    uploads.perform({"p": [entry(root, [(str(src), "data/data.csv")])]}, progress=lambda _: None)
    copy = root / "data" / "data.csv"
    assert copy.read_text() == "a,b\n1,2\n"
    assert copy.stat().st_mtime > before, "the copy carries the source's mtime (copy2)"


def test_an_upload_never_writes_through_a_link_out_of_the_datastore(tmp_path):
    src = tmp_path / "data.csv"
    src.write_text("x\n")
    root, outside = tmp_path / "datastore", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "data").symlink_to(outside)
    with pytest.raises(uploads.UploadError, match="leads out of the datastore"):
        uploads.perform({"p": [entry(root, [(str(src), "data/data.csv")])]})
    assert list(outside.iterdir()) == []
    # A file of the datastore made a link to a file outside is not written through either.
    (root / "data").unlink()
    (root / "data").mkdir()
    (outside / "victim.csv").write_text("keep me\n")
    (root / "data" / "data.csv").symlink_to(outside / "victim.csv")
    with pytest.raises(uploads.UploadError, match="leads out of the datastore"):
        uploads.perform({"p": [entry(root, [(str(src), "data/data.csv")])]})
    assert (outside / "victim.csv").read_text() == "keep me\n"
