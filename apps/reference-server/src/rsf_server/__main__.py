"""``rsf-server`` / ``python -m rsf_server``: the reference server under uvicorn.

Without ``MONGODB_URI`` the embedded store (nx-27017) is started first as a child process on a
free loopback port, its data kept in ``RSF_DATA_DIR`` (default ``.rsf-data/``), and stopped when
the server exits, whether by Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import uvicorn
from rsf_observability.log_setup import configure_logging
from rsf_observability.metrics import RsfMetrics

from rsf_server.app import create_app
from rsf_server.config import STORE_URI_FILE, ServerSettings
from rsf_server.embedded_store import EmbeddedStore

_logger = logging.getLogger("rsf_server")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rsf-server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="listen address (HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (PORT, default 3000; 0 = any free)")
    parser.add_argument("--data-dir", help="embedded store data directory (RSF_DATA_DIR)")
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> ServerSettings:
    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = ServerSettings()
    return settings.model_copy(update=overrides) if overrides else settings


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: unwind so ``finally`` stops the store.

    Installed for the whole run: uvicorn handles SIGTERM itself while serving (graceful
    shutdown, lifespan end) and re-raises it once done, which lands here instead of killing
    the process before the store is stopped.
    """
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    settings = _settings(args)
    metrics = RsfMetrics()
    configure_logging(settings.resolved_observability(), metrics=metrics)
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    store: EmbeddedStore | None = None
    store_uri_file: Path | None = None
    try:
        if settings.uses_embedded_store:
            store = EmbeddedStore(data_dir=settings.data_dir.resolve() / "nx-27017").start()
            _logger.info(
                "Embedded store started", extra={"uri": store.uri, "data_dir": str(store.data_dir)}
            )
            store_uri_file = settings.data_dir / STORE_URI_FILE
            store_uri_file.write_text(store.uri + "\n", encoding="utf-8")
        app = create_app(settings, metrics=metrics, embedded_store=store)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    except KeyboardInterrupt:
        return 0
    finally:
        if store is not None:
            store.stop()
        if store_uri_file is not None:
            store_uri_file.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
