"""Backup, restore and retention for ``rsf-ops`` (the guide's backup.sh and restore script).

The archive has mongodump's layout, ``backup_<date>/<db>/<collection>.bson`` plus
``<collection>.metadata.json`` (its indexes), so ``mongorestore`` can read it too, while this
module needs only pymongo: it also works against the embedded store, which has no mongodump.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from pymongo import MongoClient
from pymongo.database import Database

ARCHIVE_PATTERN = "rsf_backup_*.tar.gz"
_ARCHIVE_NAME = re.compile(r"^rsf_backup_(\d{8}_\d{6})\.tar\.gz$")
_BATCH = 1000


class BackupError(Exception):
    """A backup or restore could not be completed; the message says which step failed."""


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    collections: dict[str, int]  # documents per collection

    @property
    def documents(self) -> int:
        return sum(self.collections.values())


@dataclass(frozen=True)
class RestoreResult:
    collections: dict[str, int]
    indexes: int = 0
    skipped: list[str] = field(default_factory=list)


def _client(uri: str, timeout_ms: int) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, appname="rsf-ops")


def _user_collections(db: Database[dict[str, Any]]) -> list[str]:
    return sorted(name for name in db.list_collection_names() if not name.startswith("system."))


def _index_specs(db: Database[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [dict(spec) for spec in db[name].list_indexes() if spec.get("name") != "_id_"]


def _dump_collection(db: Database[dict[str, Any]], name: str, folder: Path) -> int:
    count = 0
    with (folder / f"{name}.bson").open("wb") as out:
        for document in db[name].find({}, sort=[("_id", 1)], batch_size=_BATCH):
            out.write(bson.encode(document))
            count += 1
    metadata = {"indexes": _index_specs(db, name), "collectionName": name}
    (folder / f"{name}.metadata.json").write_text(json_util.dumps(metadata), encoding="utf-8")
    return count


def create_backup(
    uri: str,
    db_name: str,
    storage: Path,
    *,
    now: datetime | None = None,
    timeout_ms: int = 5000,
) -> BackupResult:
    """Dump every collection of ``db_name``, compress, and verify the archive."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    storage.mkdir(parents=True, exist_ok=True)
    archive = storage / f"rsf_backup_{stamp}.tar.gz"
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="rsf-backup-", dir=storage) as work:
        top = Path(work) / f"backup_{stamp}"
        folder = top / db_name
        folder.mkdir(parents=True)
        client = _client(uri, timeout_ms)
        try:
            db = client[db_name]
            for name in _user_collections(db):
                counts[name] = _dump_collection(db, name, folder)
        except Exception as exc:
            raise BackupError(f"Failed to create database dump: {exc}") from exc
        finally:
            client.close()
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(top, arcname=top.name)
        partial.replace(archive)
    verify_archive(archive, expected=counts)
    return BackupResult(archive, counts)


def _read_bson(raw: bytes) -> list[dict[str, Any]]:
    return list(bson.decode_all(raw))


def _members(tar: tarfile.TarFile) -> Iterator[tuple[str, str, tarfile.TarInfo]]:
    """``(db, collection, member)`` for each ``backup_*/<db>/<collection>.bson`` in ``tar``."""
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.isfile() and len(parts) == 3 and parts[2].endswith(".bson"):
            yield parts[1], parts[2][: -len(".bson")], member


def verify_archive(archive: Path, *, expected: dict[str, int] | None = None) -> dict[str, int]:
    """Read the whole archive back (the guide's ``tar -tzf`` plus decoding every document)."""
    try:
        counts: dict[str, int] = {}
        with tarfile.open(archive, "r:gz") as tar:
            for _db, name, member in _members(tar):
                handle = tar.extractfile(member)
                assert handle is not None
                counts[name] = len(_read_bson(handle.read()))
    except (tarfile.TarError, OSError, bson.errors.BSONError, EOFError) as exc:
        raise BackupError(f"Backup verification failed: {archive.name}: {exc}") from exc
    if expected is not None and counts != expected:
        raise BackupError(f"Backup verification failed: {counts} != {expected}")
    return counts


def cleanup_old_backups(
    storage: Path, retention_days: float, *, now: float | None = None
) -> list[Path]:
    """Delete ``rsf_backup_*.tar.gz`` older than ``retention_days`` (by mtime, like ``find``)."""
    if not storage.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = []
    for path in sorted(storage.glob(ARCHIVE_PATTERN)):
        if _ARCHIVE_NAME.match(path.name) and path.stat().st_mtime < cutoff:
            path.unlink()
            removed.append(path)
    return removed


def _safe_extract(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, filter="data")


def _source_folder(root: Path, db_name: str) -> Path:
    """The dumped database folder: the one named ``db_name``, else the only one there is."""
    folders = [p for p in root.glob("*/*") if p.is_dir()]
    for folder in folders:
        if folder.name == db_name:
            return folder
    if len(folders) == 1:
        return folders[0]
    raise BackupError(f"Archive holds no single database folder (found {len(folders)})")


def _restore_indexes(db: Database[dict[str, Any]], name: str, metadata: Path) -> int:
    if not metadata.exists():
        return 0
    specs = json_util.loads(metadata.read_text(encoding="utf-8")).get("indexes", [])
    made = 0
    for spec in specs:
        options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
        db[name].create_index(list(dict(spec["key"]).items()), **options)
        made += 1
    return made


def restore_backup(
    uri: str, db_name: str, archive: Path, *, timeout_ms: int = 5000
) -> RestoreResult:
    """Replace ``db_name``'s collections with the archive's (drop, insert, indexes)."""
    if not archive.is_file():
        raise BackupError(f"Backup file not found: {archive}")
    verify_archive(archive)
    counts: dict[str, int] = {}
    indexes = 0
    with tempfile.TemporaryDirectory(prefix="rsf-restore-") as work:
        _safe_extract(archive, Path(work))
        source = _source_folder(Path(work), db_name)
        client = _client(uri, timeout_ms)
        try:
            db = client[db_name]
            for dump in sorted(source.glob("*.bson")):
                name = dump.stem
                documents = _read_bson(dump.read_bytes())
                db.drop_collection(name)
                for start in range(0, len(documents), _BATCH):
                    db[name].insert_many(documents[start : start + _BATCH], ordered=True)
                if not documents:
                    db.create_collection(name)
                indexes += _restore_indexes(db, name, source / f"{name}.metadata.json")
                counts[name] = db[name].count_documents({})
        except BackupError:
            raise
        except Exception as exc:
            raise BackupError(f"Restore failed: {exc}") from exc
        finally:
            client.close()
    return RestoreResult(counts, indexes)


def collection_count(uri: str, db_name: str, *, timeout_ms: int = 5000) -> int:
    """The guide's post-restore check: ``db.getCollectionNames().length``."""
    client = _client(uri, timeout_ms)
    try:
        return len(_user_collections(client[db_name]))
    finally:
        client.close()
