"""Directories of plain files (Parquet, CSV) kept under the write contract, made atomic by one manifest.

Layout of a store at ``ROOT``::

    ROOT/_tidemark/manifest.json             the committed state: every table's columns and the files it is made of
    ROOT/_tidemark/lock                      held (flock) by the one transaction writing at a time
    ROOT/<schema>/<table>/[col=value/]part-<version>-<id>.<ext>     data files (partition columns stay in the files)
    ROOT/_tidemark/wm__<schema>__<table>_<digest>/...   watermarks of scoped tables (sinks/bookkeeping.py)
    ROOT/_tidemark/quarantine/...            refused rows

A transaction applies its writes to a working copy (:mod:`tidemark.sinks.working`) holding the files that contain
a key or a scope the writes touch. ``commit()`` writes those files' new content and the new rows as new files, then
replaces the manifest in one ``os.replace``: a reader of the manifest sees the old tables or the new ones, never half
a write, and a crash before the rename leaves the old data (the orphaned new files are removed by ``maintain``).
Every table of a run is in the same manifest, so a run is all-or-nothing. Superseded files are deleted right after
the swap; a reader that listed them retries on the newer manifest.

Cost: an upsert reads the key (and scope) columns of the files whose statistics (Parquet footers) admit the batch's
games, once per transaction, and at commit rewrites only the files holding a stored row the transaction replaced or
deleted (without those rows); new and changed rows go to new files. Partition the table (``partition_by``) so that
touched keys share few files, or use Delta (``delta:``), which keeps concurrent writers and time travel too.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import SinkConflictError, SinkTerminalError, SinkTransientError
from tidemark.sinks.base import Capabilities
from tidemark.sinks.bookkeeping import (
    quarantine_spec,
    quarantine_table,
    watermark_spec,
)
from tidemark.sinks.files_layout import (
    MANIFEST,
    META,
    Entry,
    FileFormat,
    StoredFiles,
    dir_value,
    file_schema,
    fsync,
    legacy_marks,
    new_entry,
    partitions,
    spec_of,
)
from tidemark.sinks.names import check_names
from tidemark.sinks.rowsets import conform, matching
from tidemark.sinks.schema import columns_to_add
from tidemark.sinks.working import WorkingCopySink, WorkingTable, WorkState
from tidemark.storage import Location, locate
from tidemark.tables import TableSpec
from tidemark.types import parse_type

#: on an object store (``s3://...``) there is no lock and no rename: the manifest is one object put whole
OBJECT_STORE_CAPABILITIES = Capabilities(
    transactional=True,  # still one manifest object publishes every table of a run
    enforces_foreign_keys=False,
    atomic_checkpoint=True,
    concurrent_writers=False,  # a second writer is detected before the put, not excluded: one writer at a time
    max_identifier_bytes=255,
)


@dataclass
class _Table:
    spec: TableSpec
    work: WorkingTable
    stored: StoredFiles


@dataclass
class _FilesState(WorkState[_Table]):
    #: the store's lock (an flock on ROOT/_tidemark/lock), held until the transaction ends
    lock: int | None = None
    #: where the store is, and the files of the open transaction (deleted if it does not publish them)
    location: Location | None = None
    written: list[str] = field(default_factory=list)
    #: the manifest version the transaction started from (an object store checks it before publishing)
    base_version: int = 0
    #: per file, the (min, max) of a column from its statistics (FileSink.may_hold)
    bounds: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for path in self.written:  # written by a transaction that did not publish them
            if self.location is not None:
                self.location.delete(path)
        self.written.clear()
        super().close()
        if self.lock is not None:
            os.close(self.lock)  # releases the flock
            self.lock = None


class FileSink(WorkingCopySink[_FilesState]):
    """Parquet / CSV directories: the subclasses only name their :class:`FileFormat`."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        transactional=True,  # every table of a run is published by one manifest rename
        enforces_foreign_keys=False,
        atomic_checkpoint=True,  # a stream's checkpoint is a table of the same manifest (Sink.save_checkpoint)
        concurrent_writers=True,  # writers take turns on the store's lock; each reads the newest manifest
        max_identifier_bytes=255,  # a table is a directory: a file name
    )
    format: ClassVar[FileFormat]
    kind: ClassVar[str]

    def __init__(self, path: str, lock_timeout: float, storage_options: dict[str, str] | None = None) -> None:
        self.location = locate(path, storage_options)
        self.root = path
        self.display = f"{self.kind}:{path}"
        self.lock_timeout = lock_timeout
        if self.location.remote:  # no lock and no rename on an object store: one writer at a time (module doc)
            self.capabilities = OBJECT_STORE_CAPABILITIES  # type: ignore[misc]
        self.manifest: dict[str, Any] = self._read_manifest()

    # -- manifest -----------------------------------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any]:
        where = self.location.url_of(META, MANIFEST)
        try:
            data: dict[str, Any] = json.loads(self.location.read_bytes(META, MANIFEST))
        except FileNotFoundError:
            return {"version": 0, "format": self.kind, "tables": {}}
        except (OSError, ValueError) as exc:
            raise SinkTerminalError(f"cannot read {where}: {exc}. Restore it from a backup.") from exc
        if data.get("format") != self.kind:
            raise SinkTerminalError(f"{self.root} holds {data.get('format')} files, not {self.kind}: use another path")
        return data

    def _publish(self, manifest: dict[str, Any]) -> None:
        """The commit point: on disk, write the new manifest beside the old one and rename it over (atomic on
        POSIX); on an object store, put it as one object (atomic per object) after checking that no other writer
        published since this transaction began."""
        text = json.dumps(manifest, indent=1, sort_keys=True).encode()
        if self.location.remote:
            if int(self._read_manifest()["version"]) != self._state().base_version:
                raise SinkConflictError(
                    f"another writer committed to {self.display} during this run: the object store has no lock, "
                    "run one writer at a time there; run again to apply this input on top"
                )
            self.location.write_bytes(text, META, MANIFEST)
            self._state().written.clear()
            return
        meta = Path(self.location.path(META))
        tmp = meta / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, meta / MANIFEST)
        self._state().written.clear()  # published: those files are the tables now
        dir_fd = os.open(meta, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # -- transaction --------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self._discard()
        if self.location.remote:
            self.manifest = self._read_manifest()
            self._work = _FilesState(location=self.location, base_version=int(self.manifest["version"]))
            return
        lock = Path(self.location.path(META, "lock"))
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SinkTransientError(
                        f"another writer holds {lock} for over {self.lock_timeout:.0f} s; retry when it has finished"
                    ) from None
                time.sleep(0.05)
        self.manifest = self._read_manifest()  # the newest state, read under the lock
        self._work = _FilesState(lock=fd, location=self.location, base_version=int(self.manifest["version"]))

    def commit(self) -> None:
        try:
            manifest, obsolete = self.stage()
            self._publish(manifest)
            self.manifest = manifest
            for path in obsolete:
                self.location.delete(path)
        finally:
            self._discard()

    def stage(self) -> tuple[dict[str, Any], list[str]]:
        """Write every new file of the transaction; return the manifest that publishes them and the files it drops.

        Nothing is visible until the manifest is published: a crash here leaves orphaned files and the old tables.
        """
        manifest = json.loads(json.dumps(self.manifest))
        manifest["version"] = version = int(manifest["version"]) + 1
        tables: dict[str, Entry] = manifest["tables"]
        obsolete: list[str] = []
        state = self._state()
        for table in state.tables.values():
            spec, work = table.spec, table.work
            entry = tables.setdefault(spec.qualified, new_entry(spec))
            entry["columns"] = new_entry(spec)["columns"]  # new nullable columns join the schema
            if work.changed and work.overwritten:
                obsolete += [f["path"] for f in entry["files"]]
                entry["files"] = self._write_files(spec, work.rows(), version)
            elif work.changed:
                obsolete += self._rewrite(table, entry, version)
                entry["files"] += self._write_files(spec, work.upserts(), version)
            if spec.scope and (work.overwritten or work.watermark_changes().num_rows):
                wm = watermark_spec(spec)
                marks = tables.setdefault(wm.qualified, new_entry(wm))
                obsolete += [f["path"] for f in marks["files"]]
                legacy = tables.pop(legacy_marks(spec), None)  # migrated to the collision-free name
                obsolete += [f["path"] for f in legacy["files"]] if legacy else []
                marks["files"] = self._write_files(wm, work.watermarks(), version)
        if state.quarantined:
            spec = quarantine_spec()
            entry = tables.setdefault(spec.qualified, new_entry(spec))
            entry["files"] += self._write_files(spec, quarantine_table(state.quarantined), version)
        return manifest, obsolete

    def _new_state(self) -> _FilesState:
        return _FilesState(location=self.location)

    # -- tables -------------------------------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> None:
        state = self._state()
        if spec.qualified in state.tables:
            return
        check_names(spec, self.capabilities.max_identifier_bytes, self.display)
        entry = self.manifest["tables"].get(spec.qualified)
        if entry is not None:
            self._check_schema(spec, entry)
        stored = StoredFiles(self, spec, entry)
        state.tables[spec.qualified] = _Table(spec, WorkingTable(spec, stored, state.db()), stored)

    def _check_schema(self, spec: TableSpec, entry: Entry) -> None:
        stored = {c["name"]: c["type"] for c in entry["columns"]}
        partitions = list(entry.get("partition_by", []))
        columns_to_add(
            spec, stored, lambda have, want: parse_type(have) == want, where=self.display, partitions=partitions
        )

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        self.ensure_table(spec)
        checked = self.check_parents(spec, rows, scopes, mode)  # orphan rows: refused (contract/orphans.py)
        return checked.charge(self._state().tables[spec.qualified].work.write(checked.rows, checked.scopes, mode))

    # -- files --------------------------------------------------------------------------------------------------
    def _rewrite(self, table: _Table, entry: Entry, version: int) -> list[str]:
        """Drop the stored rows the transaction replaced or deleted from the files holding them: only those files
        are rewritten (without those rows); the others stay as they are. Returns the files dropped."""
        spec, stored = table.spec, table.stored
        if not spec.primary_key:
            return []
        gone = table.work.replaced()
        if gone.num_rows == 0:
            return []
        key = list(spec.primary_key)
        dropped, kept = [], []
        for f in entry["files"]:
            if f["path"] not in stored.seen:  # never looked into: holds no row the transaction copied
                kept.append(f)
                continue
            mask = matching(stored.thin(f, key), spec, gone, None)
            if not pc.any(mask).as_py():
                kept.append(f)
                continue
            dropped.append(f["path"])
            rest = self.read_file(f, file_schema(spec)).filter(pc.invert(mask))
            kept += self._write_files(spec, rest, version) if rest.num_rows else []
        entry["files"] = kept
        return dropped

    def _write_files(self, spec: TableSpec, rows: pa.Table, version: int) -> list[Entry]:
        """One new file per partition value (one file when the table is not partitioned)."""
        rows = conform(rows, file_schema(spec))
        base = [*([spec.schema] if spec.schema else []), spec.name]
        groups = partitions(rows, spec.partition_by) if spec.partition_by else [({}, rows)]
        out = []
        fs = self.location.fs
        for values, part in groups:
            folder = "/".join([*base, *(f"{k}={dir_value(v)}" for k, v in values.items())])
            rel = f"{folder}/part-{version:06d}-{uuid.uuid4().hex[:12]}.{self.format.extension}"
            self._state().written.append(rel)
            try:
                fs.create_dir(self.location.path(folder), recursive=True)
                with fs.open_output_stream(self.location.path(rel), compression=None) as sink:
                    self.format.write(part, sink)
                if not self.location.remote:
                    fsync(Path(self.location.path(rel)))  # on disk before a manifest can name it
            except OSError as exc:
                raise SinkTransientError(f"cannot write {self.location.url_of(rel)}: {exc}") from exc
            out.append({"path": rel, "rows": part.num_rows, "partition": values})
        return out

    def may_hold(self, f: Entry, column: str, low: Any, high: Any) -> bool:
        """False when the file's statistics say no value of ``column`` lies in [low, high] (the format keeps
        statistics: Parquet's footer; read once per file and transaction)."""
        bounds = getattr(self.format, "bounds", None)
        if bounds is None or low is None:
            return True
        cache: dict[str, Any] = self._state().bounds
        if f["path"] not in cache:
            with self.location.fs.open_input_file(self.location.path(f["path"])) as source:
                cache[f["path"]] = bounds(source, column)
        found = cache[f["path"]]
        if found is None:
            return True
        try:
            return bool(found[0] <= high and low <= found[1])
        except TypeError:  # statistics of another type than the values: read the file
            return True

    def read_file(self, f: Entry, schema: pa.Schema) -> pa.Table:
        with self.location.fs.open_input_file(self.location.path(f["path"])) as source:
            return conform(self.format.read(source, schema), schema)

    def read_entry(self, entry: Entry, schema: pa.Schema) -> pa.Table:
        parts = [self.read_file(f, schema) for f in entry["files"]]
        return pa.concat_tables(parts) if parts else conform(schema.empty_table(), schema)

    def read_table(self, spec: TableSpec) -> pa.Table:
        for attempt in range(3):
            entry = self._read_manifest()["tables"].get(spec.qualified)
            if entry is None:
                raise SinkTerminalError(f"table {spec.qualified} does not exist in {self.display}")
            try:
                rows = self.read_entry(entry, spec.arrow_schema).select(list(spec.column_names))
                break
            except FileNotFoundError:  # a writer replaced the files after we read the manifest: read the new one
                if attempt == 2:
                    raise
        keys = [(k, "ascending") for k in spec.primary_key]
        return rows.sort_by(keys) if keys else rows

    def maintain(self, *, retention_hours: int | None = None) -> dict[str, dict[str, int]]:
        """Merge each partition's files into one, and delete data files that the manifest does not list (left by a
        crashed run) once older than ``retention_hours`` (default 0: all of them; no writer runs meanwhile)."""
        hours = 0 if retention_hours is None else retention_hours
        self.begin()
        try:
            manifest = json.loads(json.dumps(self.manifest))
            manifest["version"] = version = int(manifest["version"]) + 1
            report: dict[str, dict[str, int]] = {}
            obsolete: list[str] = []
            for name, entry in manifest["tables"].items():
                spec = spec_of(name, entry)
                by_partition: dict[str, list[Entry]] = {}
                for f in entry["files"]:
                    by_partition.setdefault(json.dumps(f["partition"], sort_keys=True), []).append(f)
                merged = [fs for fs in by_partition.values() if len(fs) > 1]
                for files in merged:
                    rows = pa.concat_tables([self.read_file(f, file_schema(spec)) for f in files])
                    entry["files"] = [f for f in entry["files"] if f not in files]
                    entry["files"] += self._write_files(spec, rows, version)
                    obsolete += [f["path"] for f in files]
                report[name] = {"files_removed": sum(len(fs) for fs in merged), "files_added": len(merged)}
            keep = {f["path"] for e in manifest["tables"].values() for f in e["files"]}
            orphans = self._orphans(keep | set(obsolete), hours)
            self._publish(manifest)
            self.manifest = manifest
            for path in [*obsolete, *orphans]:
                self.location.delete(path)
            report["(unreferenced files)"] = {"files_removed": len(orphans), "files_added": 0}
            return report
        finally:
            self._discard()

    def _orphans(self, referenced: set[str], retention_hours: int) -> list[str]:
        cutoff = time.time() - retention_hours * 3600
        found = []
        for info in self.location.files():
            rel = self.location.relative(info)
            name = rel.rpartition("/")[2]
            if not (name.startswith("part-") and name.endswith(f".{self.format.extension}")):
                continue
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            if rel not in referenced and mtime <= cutoff:
                found.append(rel)
        return found
