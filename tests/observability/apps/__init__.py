"""Small ASGI apps the metrics tests serve in-process and from uvicorn worker processes."""
