"""The RSF reference server: rsf-observability and rsf-core composed in one Starlette app."""

from rsf_server.embedded_store import EmbeddedStore, free_port

__all__ = ["EmbeddedStore", "free_port"]
