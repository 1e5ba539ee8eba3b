"""The guide's MongoDB connection-pool options, as pymongo client options from the settings.

The guide's mongoose call also sets ``bufferMaxEntries: 0``; that is a mongoose option (queue
no commands while disconnected) with no pymongo counterpart: pymongo never buffers, an operation
waits at most ``serverSelectionTimeoutMS`` for a server and then fails.
"""

from __future__ import annotations

from rsf_server.config import ServerSettings


def mongo_client_options(settings: ServerSettings) -> dict[str, int]:
    """Keyword options for ``AsyncMongoClient`` / ``rsf_core.db.init_db``."""
    options = {
        "maxPoolSize": settings.mongodb_max_pool_size,
        "minPoolSize": settings.mongodb_min_pool_size,
        "maxIdleTimeMS": settings.mongodb_max_idle_time_ms,
        "serverSelectionTimeoutMS": settings.db_timeout_ms,
    }
    if settings.mongodb_socket_timeout_ms is not None:
        options["socketTimeoutMS"] = settings.mongodb_socket_timeout_ms
    return options
