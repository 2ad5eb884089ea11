"""Well-formed reuse records, as a step that succeeded writes them (tests of what readers do
with records that are right, forged or stale)."""

from __future__ import annotations


def record_for(store, fp: str, outputs: dict[str, tuple[str, str]], **extra) -> dict:
    """A record of `fp` whose outputs {port: (datastore, path on it)} are what is there now,
    each with its manifest; written to `store` and returned."""
    located = {port: store.output_location(ds, rel) for port, (ds, rel) in outputs.items()}
    record = {
        "fingerprint": fp,
        "outputs": located,
        "manifests": {
            port: store.manifest(outputs[port][0], where) for port, where in located.items()
        },
        "refs": {port: list(ref) for port, ref in outputs.items()},
        "produced_by": {"run_id": "first"},
        **extra,
    }
    store.write_record(fp, record)
    return record
