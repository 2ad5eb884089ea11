"""Step reuse: fingerprints, data version tokens, reuse records and in-progress claims.

Standard library only, so the compiler can compute the build-time part of a fingerprint with
exactly the same canonical encoding the DAGs use at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import time
from pathlib import Path

from .digests import LinkOutside, local_digest, local_signature, within

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


def data_version(path: Path, root: Path | str = "/") -> str:
    """A version token for data on a local datastore, by content: the SHA-256 of a file, or
    the manifest digest of a folder (each file's name, size and SHA-256), read only for files
    whose stat signature is new (runtime/digests.py). Size and mtime alone are not enough: a
    file rewritten with its size and mtime kept (`touch -r`) must be a new version. Links
    are followed only while they stay inside `root` (the datastore), else LinkOutside."""
    if os.path.lexists(path) and not os.path.exists(path):
        return "missing"  # a dangling link
    if not os.path.exists(path):
        return "missing"
    return local_digest(str(root), str(path))


def fingerprint(static: str, params: dict, inputs: dict) -> str:
    """static: the build-time part; params: values used; inputs: port → version or upstream."""
    return digest(
        {"schema": FINGERPRINT_SCHEMA, "static": static, "params": params, "inputs": inputs}
    )


def inside(location: str, roots: list[str]) -> bool:
    """Whether a recorded output lies strictly under one of the datastore roots (folders or
    URLs), links resolved; a URL with a `..` segment or the root itself never does."""
    texts = [str(r) for r in roots]
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if any(seg in ("..", ".") for seg in rest.split("/")[1:]):
            return False
        return any(
            location.startswith(r.rstrip("/") + "/") and location.rstrip("/") != r.rstrip("/")
            for r in texts
            if "://" in r
        )
    target = Path(os.path.realpath(location))
    return any(
        target != Path(os.path.realpath(r)) and target.is_relative_to(os.path.realpath(r))
        for r in texts
        if "://" not in r
    )


# ---- who owns a claim, and whether it is provably dead ----
def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def pid_namespace() -> str | None:
    """Containers on one kernel share its boot id, not their pid namespaces."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat):
    tells a process from a later one that was given the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode("ascii", "replace")
        return int(text[text.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def this_process() -> dict:
    """What a claim says about its owner, beside the run and task."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "boot_id": boot_id(),
        "pid_namespace": pid_namespace(),
        "pid": pid,
        "pid_start": process_start(pid),
    }


def owner_is_dead(owner: dict | None) -> bool:
    """True only when provable: the owner ran on this machine since its last boot, in this
    pid namespace, and its process is gone (or its pid now belongs to a later process).
    Anything else (another host, another boot or container, no such details) is alive until
    its heartbeat goes stale."""
    if not isinstance(owner, dict):
        return False
    here = this_process()
    if not here["boot_id"] or not here["pid_namespace"]:
        return False
    for key in ("host", "boot_id", "pid_namespace"):
        if owner.get(key) != here[key]:
            return False
    pid = owner.get("pid")
    if type(pid) is not int or pid <= 0:
        return False
    if pid == here["pid"]:
        return owner.get("pid_start") != here["pid_start"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists (another user's)
        pass
    started = process_start(pid)
    recorded = owner.get("pid_start")
    return type(recorded) is int and started is not None and started != recorded


def _read_nofollow(path: Path, limit: int) -> bytes:
    """A file's bytes, never through a link in its last component, never a FIFO or device."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, 1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class OutsideDatastore(RuntimeError):
    """A path a run would write or read leads out of its datastore through a link."""


def _valid_manifest(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("signature"), str)
        and isinstance(value.get("digest"), str)
    )


class Store:
    """Records and claims of one datastore folder.

    Nothing here follows a link out of the datastore: the records folder is resolved and
    checked before every use, a record is opened without following a link, temporary files
    and claims are created exclusively, and a heartbeat never touches through a link."""

    # (datastore, path on it) → where this worker sees it; set by runtime/storage.open_store.
    locate = None

    def __init__(self, datastore_root: Path):
        self.root = Path(datastore_root)
        self.dir = self.root / REUSE_DIR

    def record_path(self, fp: str) -> Path:
        return self.dir / f"{fp}.json"

    def claim_path(self, fp: str) -> Path:
        return self.dir / f"{fp}.claim"

    def checked_dir(self) -> Path:
        """The records folder, which must not lead out of the datastore (OutsideDatastore)."""
        try:
            within(self.root, self.dir)
        except LinkOutside as exc:
            raise OutsideDatastore(
                f"the reuse records folder {REUSE_DIR} {exc}; remove the link (someone who"
                " can write the datastore made it)"
            ) from None
        return self.dir

    # ---- where outputs are, and what is there ----
    def output_location(self, datastore: str, path: str) -> str:
        if self.locate is not None:
            return self.locate(datastore, path)
        return str(self.root / path)

    def manifest(self, datastore: str, where: str, known: dict | None = None) -> dict | None:
        """{"signature", "digest"} of the output at `where` now, or None when it is not
        there. `known` (a recorded manifest) is taken as it is when the cheap stat signature
        still matches; else the content is read. LinkOutside when it leads out."""
        try:
            sig = local_signature(str(self.root), where)
        except FileNotFoundError:
            return None
        if _valid_manifest(known) and known["signature"] == sig:
            return {"signature": sig, "digest": known["digest"]}
        return {"signature": sig, "digest": local_digest(str(self.root), where)}

    def read_record(
        self,
        fp: str,
        log=None,
        roots: list[str] | None = None,
        expect: dict | None = None,
    ) -> dict | None:
        """The completed record, or None; a record that is corrupt, truncated, not ours or
        pointing outside the datastores in `roots` is ignored with a warning (the step
        recomputes). Whoever can write the datastore must not steer a run elsewhere.

        With `expect` ({port: (datastore, path on it)}: where the step's outputs belong, as
        derived from its fingerprint), a record is used only when it names exactly those
        outputs, and each is there and matches the manifest the record holds for it; the
        outputs returned are those locations, whatever the record says."""
        path = self.record_path(fp)
        why = None
        record = None
        try:
            if isinstance(path, Path):
                self.checked_dir()
                data = _read_nofollow(path, RECORD_MAX_BYTES)
            else:
                with path.open("rb") as fh:
                    data = fh.read(RECORD_MAX_BYTES + 1)
            if len(data) > RECORD_MAX_BYTES:
                raise ValueError("larger than any record")
            record = json.loads(data.decode("utf-8"))
        except FileNotFoundError:
            return None
        except OutsideDatastore as exc:
            why = str(exc)
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
        if why is None and expect is not None:
            why, outputs = self._verified(record, outputs, expect)
            if why is None:
                record = {**record, "outputs": outputs}
        elif why is None:
            outputs = self._relocated(record, outputs)
            record = {**record, "outputs": outputs}
            if roots is not None:
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

    def _verified(self, record: dict, outputs: dict, expect: dict) -> tuple[str | None, dict]:
        """(why not, the outputs where they belong) for a record of a step whose outputs
        belong at `expect`."""
        if set(outputs) != set(expect):
            return (
                f"it names outputs {sorted(outputs)}, not the step's {sorted(expect)}",
                outputs,
            )
        manifests = record.get("manifests")
        if not isinstance(manifests, dict) or not all(
            _valid_manifest(manifests.get(port)) for port in expect
        ):
            return "it holds no manifest of its outputs (written by an older version)", outputs
        located = {}
        for port, (datastore, rel) in sorted(expect.items()):
            if not str(rel).strip("/"):
                return f"output {port!r} would be the root of datastore {datastore!r}", outputs
            try:
                where = self.output_location(datastore, rel)
                now = self.manifest(datastore, where, manifests[port])
            except LinkOutside as exc:
                return f"output {port!r}: {exc}", outputs
            except (OSError, ValueError) as exc:
                return f"output {port!r} cannot be read ({exc})", outputs
            if now is None:
                return f"output {port!r} is gone ({where})", outputs
            if now["digest"] != manifests[port]["digest"]:
                return f"output {port!r} changed since the record was written ({where})", outputs
            located[port] = where
        return None, located

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
        self._make_dir()
        target = self.record_path(fp)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, sort_keys=True, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            self.checked_dir()  # still ours: not swapped for a link while we wrote
            os.replace(tmp, target)  # replaces a link at `target`, never writes through it
        except FileExistsError:
            raise OSError(f"{tmp} exists (a writer of this process died?)") from None
        except BaseException:  # a full or vanished datastore leaves no half record behind
            tmp.unlink(missing_ok=True)
            raise

    def _make_dir(self) -> None:
        self.checked_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.checked_dir()

    # ---- claims: one run computes a fingerprint, the others wait ----
    def try_claim(self, fp: str, owner: dict, stale_after: float = CLAIM_STALE_SECONDS):
        """Returns (True, None) when claimed, else (False, the live claim's owner, with
        `heartbeat_age`: seconds since its last heartbeat). A claim whose owner is provably
        dead (same machine and boot, its process gone) is taken over at once; any other
        once its heartbeat is older than `stale_after`."""
        body = canonical({**owner, **this_process()})
        for _ in range(3):
            if self._create_claim(fp, body):
                rival = self._rival_owner(fp, body)
                return (True, None) if rival is None else (False, rival)
            current = self.claim_owner(fp)
            if (
                current is not None
                and current.get("run_id") == owner.get("run_id")
                and current.get("task_id") == owner.get("task_id")
                and current.get("map_index") == owner.get("map_index")
            ):
                self._adopt_claim(fp, current)
                self.heartbeat(fp)  # our own earlier try: carry on
                return True, None
            age = self._claim_age(fp)
            if age is None:
                continue
            if age < stale_after and not owner_is_dead(current):
                return False, {**(current or {}), "heartbeat_age": age}
            # Its owner died (provably, or it stopped heart-beating): take the claim over.
            self._drop_claim(fp, current)
        current = self.claim_owner(fp)
        return False, {**(current or {}), "heartbeat_age": self._claim_age(fp) or 0.0}

    # The storage primitives of a claim; object storage overrides them (runtime/storage.py).
    def _create_claim(self, fp: str, body: bytes) -> bool:
        """Creates the claim exclusively; False when one exists already."""
        self._make_dir()
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
            return time.time() - os.stat(self.claim_path(fp), follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return None

    def _drop_claim(self, fp: str, seen: dict | None = None) -> None:
        """Removes the claim found dead, and only that one: it is first renamed aside (one
        atomic step), and put back (without replacing anything) when it turns out to be a
        newer claim of another taker, so two runs taking over at once cannot both win."""
        self.checked_dir()
        aside = self.claim_path(fp).with_name(f".{fp}.claim.{os.getpid()}.{time.time_ns()}")
        try:
            os.rename(self.claim_path(fp), aside)
        except FileNotFoundError:
            return
        try:
            try:
                body = json.loads(_read_nofollow(aside, 1 << 16) or b"{}")
            except (OSError, ValueError):
                body = None
            if seen is not None and body is not None and body != seen:
                try:
                    os.link(aside, self.claim_path(fp), follow_symlinks=False)
                except FileExistsError:
                    pass
        finally:
            aside.unlink(missing_ok=True)

    def claim_owner(self, fp: str) -> dict | None:
        try:
            self.checked_dir()
            value = json.loads(_read_nofollow(self.claim_path(fp), 1 << 16) or b"{}")
        except (OSError, ValueError, OutsideDatastore):
            return None
        return value if isinstance(value, dict) else None

    def heartbeat(self, fp: str) -> None:
        try:
            self.checked_dir()
            os.utime(self.claim_path(fp), follow_symlinks=False)
        except (FileNotFoundError, OutsideDatastore):
            pass

    def release(self, fp: str) -> None:
        try:
            self.checked_dir()
        except OutsideDatastore:
            return
        self.claim_path(fp).unlink(missing_ok=True)
