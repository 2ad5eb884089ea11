"""Step reuse: fingerprints, data version tokens, reuse records and in-progress claims.

Standard library only, so the compiler can compute the build-time part of a fingerprint with
exactly the same canonical encoding the DAGs use at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

FINGERPRINT_SCHEMA = 1
PLAN_TASK_ID = "amlcompile_reuse_plan"  # the planner task of every generated DAG
PLAN_XCOM_KEY = "amlcompile_plan"
REGENERATE_PARAM = "regenerate_outputs"  # the DAG Param that reruns every step
# The run conf key of Azure ML's continue_on_step_failure: false starts no step after a failure.
CONTINUE_PARAM = "continue_on_step_failure"
REUSE_DIR = "azureml/_reuse"  # on the datastore, beside the outputs
RECORD_MAX_BYTES = 1 << 20  # a record is a few hundred bytes; anything huge is not ours
CLAIM_STALE_SECONDS = 300.0  # a claim whose heartbeat is older is taken over
HEARTBEAT_SECONDS = 10.0


def canonical(value) -> bytes:
    """One byte string per value, whatever the process, machine or PYTHONHASHSEED."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def digest(value) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def data_version(path: Path) -> str:
    """A version token for data on a local datastore: size and mtime of every file."""
    if path.is_file():
        st = path.stat()
        return f"file:{st.st_size}:{st.st_mtime_ns}"
    if path.is_dir():
        entries = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                st = full.stat()
                entries.append([full.relative_to(path).as_posix(), st.st_size, st.st_mtime_ns])
        return "dir:" + digest(entries)
    return "missing"


def fingerprint(static: str, params: dict, inputs: dict) -> str:
    """static: the build-time part; params: values used; inputs: port → version or upstream."""
    return digest(
        {"schema": FINGERPRINT_SCHEMA, "static": static, "params": params, "inputs": inputs}
    )


def inside(location: str, roots: list[str]) -> bool:
    """Whether a recorded output lies under one of the datastore roots (folders or URLs)."""
    texts = [str(r) for r in roots]
    if "://" in location:
        return any(location.startswith(r.rstrip("/") + "/") for r in texts if "://" in r)
    target = Path(location).resolve()
    return any(target.is_relative_to(Path(r).resolve()) for r in texts if "://" not in r)


class Store:
    """Records and claims of one datastore folder."""

    # (datastore, path on it) → where this worker sees it; set by runtime/storage.open_store.
    locate = None

    def __init__(self, datastore_root: Path):
        self.dir = Path(datastore_root) / REUSE_DIR

    def record_path(self, fp: str) -> Path:
        return self.dir / f"{fp}.json"

    def claim_path(self, fp: str) -> Path:
        return self.dir / f"{fp}.claim"

    def read_record(self, fp: str, log=None, roots: list[str] | None = None) -> dict | None:
        """The completed record, or None; a record that is corrupt, truncated, not ours or
        pointing outside the datastores in `roots` is ignored with a warning (the step
        recomputes). Whoever can write the datastore must not steer a run elsewhere."""
        path = self.record_path(fp)
        why = None
        record = None
        try:
            if isinstance(path, Path):  # a FIFO or a device would block or never end
                if not path.exists() and not path.is_symlink():
                    return None
                if not path.is_file():
                    raise ValueError("not a regular file")
            with path.open("rb") as fh:
                data = fh.read(RECORD_MAX_BYTES + 1)
            if len(data) > RECORD_MAX_BYTES:
                raise ValueError("larger than any record")
            record = json.loads(data.decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            why = f"unreadable ({exc})"
        if why is None and (not isinstance(record, dict) or record.get("fingerprint") != fp):
            why = f"it is not a record of {fp}"
        outputs = record.get("outputs") if why is None else None
        if why is None and not (
            isinstance(outputs, dict)
            and all(isinstance(k, str) and isinstance(v, str) and v for k, v in outputs.items())
        ):
            why = "its outputs are not a mapping of names to paths"
        if why is None:
            outputs = self._relocated(record, outputs)
            record = {**record, "outputs": outputs}
        if why is None and roots is not None:
            for value in outputs.values():
                if not inside(value, roots):
                    why = f"output {value!r} is outside this pipeline's datastores"
                    break
        if why is None and not all(map(self.output_exists, outputs.values())):
            why = "its outputs are gone"
        if why is not None:
            if log:
                log.warning("ignoring reuse record %s: %s; the step runs again", path, why)
            return None
        return record

    def _relocated(self, record: dict, outputs: dict) -> dict:
        """The outputs where this worker sees them, from the record's `refs` ({port:
        [datastore, path]}); without refs (older records) or locate, as recorded."""
        refs = record.get("refs")
        if self.locate is None or not isinstance(refs, dict) or set(refs) != set(outputs):
            return outputs
        try:
            return {port: self.locate(ref[0], ref[1]) for port, ref in refs.items()}
        except Exception:  # a ref that is not (datastore, relative path): as recorded
            return outputs

    def output_exists(self, path: str) -> bool:
        return Path(path).exists()

    def write_record(self, fp: str, record: dict) -> None:
        """Written last and atomically: a reader sees the whole record or none."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.record_path(fp)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(record, fh, sort_keys=True, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:  # a full or vanished datastore leaves no half record behind
            tmp.unlink(missing_ok=True)
            raise

    # ---- claims: one run computes a fingerprint, the others wait ----
    def try_claim(self, fp: str, owner: dict, stale_after: float = CLAIM_STALE_SECONDS):
        """Returns (True, None) when claimed, else (False, the live claim's owner)."""
        body = canonical({**owner, "host": socket.gethostname(), "pid": os.getpid()})
        for _ in range(2):
            if self._create_claim(fp, body):
                rival = self._rival_owner(fp, body)
                return (True, None) if rival is None else (False, rival)
            current = self.claim_owner(fp)
            if (
                current is not None
                and current.get("run_id") == owner.get("run_id")
                and current.get("task_id") == owner.get("task_id")
            ):
                self._adopt_claim(fp, current)
                self.heartbeat(fp)  # our own earlier try: carry on
                return True, None
            age = self._claim_age(fp)
            if age is None:
                continue
            if age < stale_after:
                return False, current
            # The owner stopped heart-beating (its worker died): take the claim over.
            self._drop_claim(fp)
        return False, self.claim_owner(fp)

    # The storage primitives of a claim; object storage overrides them (runtime/storage.py).
    def _create_claim(self, fp: str, body: bytes) -> bool:
        """Creates the claim exclusively; False when one exists already."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.claim_path(fp), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        return True

    def _rival_owner(self, fp: str, body: bytes) -> dict | None:
        """After creating: another claimer's owner if ours did not stick (never, locally)."""
        return None

    def _adopt_claim(self, fp: str, current: dict) -> None:
        """The claim found is this task's own from an earlier try."""

    def _claim_age(self, fp: str) -> float | None:
        try:
            return time.time() - self.claim_path(fp).stat().st_mtime
        except FileNotFoundError:
            return None

    def _drop_claim(self, fp: str) -> None:
        self.claim_path(fp).unlink(missing_ok=True)

    def claim_owner(self, fp: str) -> dict | None:
        try:
            return json.loads(self.claim_path(fp).read_text() or "{}")
        except (OSError, ValueError):
            return None

    def heartbeat(self, fp: str) -> None:
        try:
            os.utime(self.claim_path(fp))
        except FileNotFoundError:
            pass

    def release(self, fp: str) -> None:
        self.claim_path(fp).unlink(missing_ok=True)
