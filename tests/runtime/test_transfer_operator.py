"""DataTransferOperator between local datastores, and its answers to bad input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.airflow


@pytest.fixture
def stores(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "data" / "sub").mkdir(parents=True)
    (src / "data" / "one.txt").write_bytes(b"1")
    (src / "data" / "sub" / "two.bin").write_bytes(b"\x00\xff" * 1000)
    return {
        "in": {"kind": "local", "path": str(src), "conn_id": None},
        "out": {"kind": "local", "path": str(dst), "conn_id": None},
        "share": {"kind": "azure_file", "path": "myshare", "conn_id": "files"},
    }


def op(stores, source, destination, **kwargs):
    from amlcompile.runtime.transfer import DataTransferOperator

    return DataTransferOperator(
        task_id="copy", source=source, destination=destination, datastores=stores, **kwargs
    )


def test_copies_directories_and_files_and_returns_the_destination(stores, tmp_path):
    result = op(stores, {"datastore": "in", "path": "data"}, {"datastore": "out", "path": "d"})
    outputs = result.execute(context={})["outputs"]
    assert outputs == {"destination": str(tmp_path / "dst" / "d")}
    assert (tmp_path / "dst" / "d" / "sub" / "two.bin").read_bytes() == b"\x00\xff" * 1000
    into_dir = op(
        stores,
        {"datastore": "in", "path": "data/one.txt"},
        {"datastore": "out", "path": "folder"},
        destination_reference_type="directory",
        output_name="copied",
    ).execute(context={})
    assert into_dir["outputs"] == {"copied": str(tmp_path / "dst" / "folder" / "one.txt")}
    as_file = op(
        stores, {"datastore": "in", "path": "data/one.txt"}, {"datastore": "out", "path": "x.txt"}
    ).execute(context={})
    assert (tmp_path / "dst" / "x.txt").read_bytes() == b"1"
    assert as_file["outputs"]["destination"].endswith("x.txt")


def test_nothing_is_templated(stores):
    assert (
        op(
            stores, {"datastore": "in", "path": "a"}, {"datastore": "out", "path": "b"}
        ).template_fields
        == ()
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_reference_type": "folder"}, "source_reference_type must be 'file', 'directory'"),
        ({"destination_reference_type": 1}, "destination_reference_type must be"),
        (
            {"source_reference_type": "directory", "destination_reference_type": "file"},
            "a directory cannot be copied to a 'file' destination",
        ),
        ({"source": {"path": "x"}}, "source needs 'datastore' and 'path'"),
        ({"destination": {"datastore": "out"}}, "destination needs 'datastore' and 'path'"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(stores, kwargs, message):
    args = {
        "source": {"datastore": "in", "path": "data"},
        "destination": {"datastore": "out", "path": "d"},
        **kwargs,
    }
    with pytest.raises(ValueError, match="task 'copy'") as err:
        op(stores, args.pop("source"), args.pop("destination"), **args)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("source", "destination", "kwargs", "message"),
    [
        (
            {"datastore": "in", "path": "nope"},
            {"datastore": "out", "path": "d"},
            {},
            "does not exist",
        ),
        (
            {"datastore": "in", "path": "data"},
            {"datastore": "out", "path": "d"},
            {"source_reference_type": "file"},
            "source_reference_type is 'file' but",
        ),
        (
            {"datastore": "in", "path": "data"},
            {"datastore": "out", "path": "d"},
            {"destination_reference_type": "file"},
            "cannot be copied to a 'file' destination",
        ),
        (
            {"datastore": "in", "path": "data"},
            {"datastore": "share", "path": "d"},
            {},
            "datastore 'share' (azure_file share 'myshare'): Airflow connection 'files' is not"
            " defined",
        ),
        (
            {"datastore": "in", "path": "../data"},
            {"datastore": "out", "path": "d"},
            {},
            "path '../data' on datastore 'in' must be a relative path inside the datastore",
        ),
        (
            {"datastore": "gone", "path": "x"},
            {"datastore": "out", "path": "d"},
            {},
            "'gone' is not defined",
        ),
    ],
)
def test_bad_data_fails_the_task_naming_step_and_place(
    stores, source, destination, kwargs, message
):
    from amlcompile.runtime.binding import StepError

    with pytest.raises(StepError, match="step 'copy'") as err:
        op(stores, source, destination, **kwargs).execute(context={})
    assert message in str(err.value)
