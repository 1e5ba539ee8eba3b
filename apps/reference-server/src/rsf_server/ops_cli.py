"""``rsf-ops``: the operations guide's scripts and runbook commands as one CLI.

Reads ``MONGODB_URI``, ``MONGODB_DB``, ``BACKEND_URL``, ``BACKUP_STORAGE_PATH`` and
``BACKUP_RETENTION_DAYS`` like the guide's scripts. Without ``MONGODB_URI`` it uses the embedded
store of a running ``rsf-server`` (its address is in ``RSF_DATA_DIR/store.uri``), else
``mongodb://localhost:27017``. Exit status: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from rsf_server import ops_backup, ops_health
from rsf_server.config import STORE_URI_FILE
from rsf_server.ops_settlements import count_stuck_settlements, create_indexes, reset_stuck

DEFAULT_URI = "mongodb://localhost:27017"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def resolve_mongodb_uri(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("MONGODB_URI"):
        return os.environ["MONGODB_URI"]
    if os.environ.get("MONGODB_HOST"):  # the health-check script's host:port form
        return f"mongodb://{os.environ['MONGODB_HOST']}"
    store_file = Path(_env("RSF_DATA_DIR", ".rsf-data")) / STORE_URI_FILE
    if store_file.is_file():
        return store_file.read_text(encoding="utf-8").strip()
    return DEFAULT_URI


def _log(console: Console, message: str, style: str = "") -> None:
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    console.print(f"[dim]\\[{stamp}][/dim] {message}", style=style, highlight=False)


# --- commands ----------------------------------------------------------------------------------


def cmd_health_check(args: argparse.Namespace, console: Console) -> int:
    _log(console, "Starting RSF Utility health check...")
    mongodb_uri = resolve_mongodb_uri(args.mongodb_uri) if not args.skip_db else None
    outcomes = ops_health.run_health_check(args.backend_url, mongodb_uri, args.timeout)
    table = Table(title="RSF Utility health", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for outcome in outcomes:
        table.add_row(outcome.name, outcome.symbol, outcome.detail)
    console.print(table)
    if ops_health.overall_ok(outcomes):
        _log(console, "✅ Overall health check passed", "green")
        return 0
    _log(console, "❌ Overall health check failed", "red")
    return 1


def cmd_backup(args: argparse.Namespace, console: Console) -> int:
    uri = resolve_mongodb_uri(args.mongodb_uri)
    storage = Path(args.storage)
    _log(console, "=== RSF Utility Database Backup Started ===")
    _log(console, f"Starting backup for database: {args.db}")
    try:
        result = ops_backup.create_backup(uri, args.db, storage)
    except ops_backup.BackupError as exc:
        _log(console, f"[ERROR] {exc}", "red")
        return 1
    _log(
        console,
        f"Backup verification successful: {result.archive.name} "
        f"({len(result.collections)} collections, {result.documents} documents)",
    )
    _log(console, f"Cleaning up backups older than {args.retention_days:g} days")
    removed = ops_backup.cleanup_old_backups(storage, args.retention_days)
    for path in removed:
        _log(console, f"Removed old backup: {path.name}")
    _log(console, "=== Backup Process Completed Successfully ===")
    _log(console, f"Backup location: {result.archive}")
    return 0


def cmd_restore(args: argparse.Namespace, console: Console) -> int:
    archive = Path(args.file)
    if not archive.is_file():
        _log(console, f"Error: Backup file not found: {archive}", "red")
        return 1
    if not args.yes:
        answer = console.input(
            f"Restore drops and replaces the collections of [bold]{args.db}[/bold]. Continue? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            _log(console, "Restore cancelled")
            return 1
    uri = resolve_mongodb_uri(args.mongodb_uri)
    _log(console, f"Starting database restoration from: {archive}")
    try:
        result = ops_backup.restore_backup(uri, args.db, archive)
        collections = ops_backup.collection_count(uri, args.db)
    except ops_backup.BackupError as exc:
        _log(console, f"[ERROR] {exc}", "red")
        return 1
    for name, count in sorted(result.collections.items()):
        _log(console, f"  {name}: {count} documents")
    if collections > 0:
        _log(console, f"Restoration successful: {collections} collections restored")
    else:
        _log(console, "Warning: No collections found after restoration", "yellow")
    if not args.skip_health:
        backend = ops_health.check_backend(args.backend_url, args.timeout)[0]
        if backend.ok:
            _log(console, "System health check passed")
        else:
            _log(console, f"Warning: System health check failed ({backend.detail})", "yellow")
    _log(console, "Database restoration completed")
    return 0


def cmd_reset_stuck(args: argparse.Namespace, console: Console) -> int:
    uri = resolve_mongodb_uri(args.mongodb_uri)
    changed = asyncio.run(reset_stuck(uri, args.db, args.older_than))
    _log(
        console,
        f"Reset {changed} stuck settlement(s): PENDING > {args.older_than:g} min -> "
        "NOT_SETTLED (Timeout reset)",
    )
    console.print(changed, highlight=False)
    return 0


def cmd_stuck_count(args: argparse.Namespace, console: Console) -> int:
    uri = resolve_mongodb_uri(args.mongodb_uri)
    stuck = asyncio.run(count_stuck_settlements(uri, args.db, args.older_than))
    console.print(stuck, highlight=False)
    return 0


def cmd_create_indexes(args: argparse.Namespace, console: Console) -> int:
    uri = resolve_mongodb_uri(args.mongodb_uri)
    made = create_indexes(uri, args.db)
    for collection, name in made:
        _log(console, f"index {collection}.{name}")
    _log(console, f"{len(made)} indexes ensured")
    return 0


def cmd_metrics_watch(args: argparse.Namespace, console: Console) -> int:
    """``watch -n 5 'curl -s /metrics | grep settlement_'``, bounded by ``--count``."""
    url = f"{args.backend_url.rstrip('/')}/metrics"
    for round_ in range(args.count):
        try:
            text = httpx.get(url, timeout=args.timeout).text
        except httpx.HTTPError as exc:
            _log(console, f"{url}: {type(exc).__name__}", "red")
            return 1
        lines = [
            line for line in text.splitlines() if line.startswith(args.filter) and "#" not in line
        ]
        _log(console, f"{len(lines)} series matching {args.filter!r}")
        for line in lines:
            console.print(line, highlight=False, markup=False)
        if round_ + 1 < args.count:
            time.sleep(args.interval)
    return 0


# --- parser ------------------------------------------------------------------------------------


def _add_db_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mongodb-uri", help="MongoDB URI (MONGODB_URI)")
    parser.add_argument(
        "--db", default=_env("MONGODB_DB", "rsf-utility"), help="database (MONGODB_DB)"
    )


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend-url",
        default=_env("BACKEND_URL", "http://localhost:3000"),
        help="server base URL (BACKEND_URL)",
    )
    parser.add_argument(
        "--timeout", type=float, default=float(_env("TIMEOUT", "30")), help="seconds (TIMEOUT)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsf-ops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    handlers: dict[str, Callable[[argparse.Namespace, Console], int]] = {}

    def command(
        name: str, handler: Callable[[argparse.Namespace, Console], int], help_: str
    ) -> argparse.ArgumentParser:
        handlers[name] = handler
        return sub.add_parser(name, help=help_, description=help_)

    p = command("health-check", cmd_health_check, "Backend, database, resources and API checks")
    _add_backend_options(p)
    _add_db_options(p)
    p.add_argument("--skip-db", action="store_true", help="do not ping the database directly")

    p = command("backup", cmd_backup, "Dump the database to rsf_backup_<date>.tar.gz")
    _add_db_options(p)
    p.add_argument(
        "--storage",
        default=_env("BACKUP_STORAGE_PATH", "backups"),
        help="directory of the archives (BACKUP_STORAGE_PATH)",
    )
    p.add_argument(
        "--retention-days",
        type=float,
        default=float(_env("BACKUP_RETENTION_DAYS", "30")),
        help="delete archives older than this (BACKUP_RETENTION_DAYS, default 30)",
    )

    p = command("restore", cmd_restore, "Drop and restore the database from an archive")
    p.add_argument("file", help="rsf_backup_<date>.tar.gz")
    _add_db_options(p)
    _add_backend_options(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--skip-health", action="store_true", help="no health check afterwards")

    for name, handler, help_ in (
        ("reset-stuck", cmd_reset_stuck, "PENDING settlements older than N min -> NOT_SETTLED"),
        ("stuck-count", cmd_stuck_count, "How many settlements are PENDING older than N min"),
    ):
        p = command(name, handler, help_)
        _add_db_options(p)
        p.add_argument("--older-than", type=float, default=30.0, help="minutes (default 30)")

    p = command("create-indexes", cmd_create_indexes, "Create the runbook's performance indexes")
    _add_db_options(p)

    p = command("metrics-watch", cmd_metrics_watch, "Print /metrics series with a prefix")
    _add_backend_options(p)
    p.add_argument("--filter", default="settlement_", help="metric name prefix")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    p.add_argument("--count", type=int, default=1, help="rounds (default 1)")

    parser.set_defaults(_handlers=handlers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    handler: Callable[[argparse.Namespace, Console], int] = args._handlers[args.command]
    try:
        return handler(args, console)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        _log(console, f"[ERROR] {type(exc).__name__}: {exc}", "red")
        return 1


if __name__ == "__main__":
    sys.exit(main())
