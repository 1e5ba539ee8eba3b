"""pymongo command monitoring -> ``db_operation_duration_seconds`` and ``db_operations_total``.

Labels stay bounded: ``operation`` is the command name the driver sent (a fixed vocabulary of
our code, not input), ``collection`` is the command's target when it is one of the known
collections, ``"other"`` for any other name, ``"-"`` for database-level commands (ping,
listCollections, ...). Driver housekeeping (handshakes, authentication, session cleanup) is not
an application operation and is skipped. Server heartbeats never reach a ``CommandListener``.

A write the server answers with ``ok: 1`` but ``writeErrors`` (e.g. a duplicate key) counts as
``outcome="failure"``: the operation did not do what was asked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from pymongo import monitoring
from rsf_observability.metrics import RsfMetrics

SKIPPED_COMMANDS: frozenset[str] = frozenset(
    {
        "hello",
        "ismaster",
        "isMaster",
        "saslStart",
        "saslContinue",
        "authenticate",
        "getnonce",
        "endSessions",
    }
)

# Commands whose target collection is not the value of the command name's key.
_COLLECTION_KEY: dict[str, str] = {"getMore": "collection"}
_MAX_IN_FLIGHT = 10_000


class CommandMetricsListener(monitoring.CommandListener):
    """Feeds the database metrics of one :class:`RsfMetrics` from every command event."""

    def __init__(self, metrics: RsfMetrics, collections: Iterable[str]) -> None:
        self._metrics = metrics
        self._collections = frozenset(collections)
        # (connection id, request id) -> collection label, for the succeeded/failed event.
        self._in_flight: OrderedDict[tuple[Any, int], str] = OrderedDict()

    def _collection_of(self, command_name: str, command: Any) -> str:
        target = command.get(_COLLECTION_KEY.get(command_name, command_name))
        if not isinstance(target, str):
            return "-"
        return target if target in self._collections else "other"

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in SKIPPED_COMMANDS:
            return
        key = (event.connection_id, event.request_id)
        self._in_flight[key] = self._collection_of(event.command_name, event.command)
        while len(self._in_flight) > _MAX_IN_FLIGHT:
            self._in_flight.popitem(last=False)

    def _finish(self, event: Any, outcome: str) -> None:
        if event.command_name in SKIPPED_COMMANDS:
            return
        collection = self._in_flight.pop((event.connection_id, event.request_id), "-")
        seconds = event.duration_micros / 1_000_000
        self._metrics.db_operation_duration_seconds.labels(
            operation=event.command_name, collection=collection
        ).observe(seconds)
        self._metrics.db_operations_total.labels(
            operation=event.command_name, collection=collection, outcome=outcome
        ).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        reply = event.reply
        failed = bool(reply.get("writeErrors") or reply.get("writeConcernError"))
        self._finish(event, "failure" if failed else "success")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finish(event, "failure")
