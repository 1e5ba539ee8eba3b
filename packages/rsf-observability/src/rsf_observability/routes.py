"""The matched route template of a request, read from what the router left in the scope.

Starlette's router writes the matched route into ``scope["route"]`` and, for every ``Mount`` it
descends into, extends ``scope["root_path"]`` (keeping the original in ``scope["app_root_path"]``).
So after the app has run, the template is "mount prefix + the route's ``path_format``" and no
route has to be matched a second time. FastAPI routers included with a prefix keep the
un-prefixed route in ``scope["route"]``; their effective, prefixed path lives in FastAPI's own
scope entry and is read from there when it belongs to the same route.

Label values must never be raw input: the mount prefix in ``root_path`` holds concrete values
when a mount path has parameters (``Mount("/t/{tenant}")``). Only then are the mounts walked
(mounts only, not routes) to find their templates; where a mount hides its routes, the values
are put back as ``{name}`` from ``path_params``, and a value that cannot be placed turns the
prefix into ``/{mount}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.routing import Host, Match, Mount

UNMATCHED = "<unmatched>"
"""The one label value of every request no route matched (404s, redirects of slashes)."""

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z_][a-zA-Z0-9_]*)?}")


_MEMO = "rsf.route_template"
"""Scope key of the last answer, with the route it was computed for: several layers ask."""


def route_template(scope: Mapping[str, Any]) -> str | None:
    """The template of the route that served this (finished or routed) request, else ``None``.

    ``Mount("/ui", routes=[Route("/orders/{user_id}")])`` gives ``/ui/orders/{user_id}``; a mount
    of a non-router app (``StaticFiles``) gives ``/static/{path}``; a request that a mounted
    router did not match, or that no route matched at all, gives ``None``.
    """
    route = scope.get("route")
    memo = scope.get(_MEMO)
    if memo is not None and memo[0] is route:
        return memo[1]  # type: ignore[no-any-return]
    template = _template(scope, route)
    if isinstance(scope, dict):
        scope[_MEMO] = (route, template)
    return template


def _template(scope: Mapping[str, Any], route: Any) -> str | None:
    included = _fastapi_included_path(scope, route)
    if included is not None:
        own, consumed = included
        prefix = _mount_prefix(scope)
        if consumed:
            prefix = "/".join(prefix.split("/")[:-consumed])
        return _join(scope, prefix, own)
    if route is None or (isinstance(route, Mount | Host) and route.routes):
        # Starlette always records the route it matched, so this request is unmatched,
        # unless a FastAPI router (which records only its APIRoutes) handled it.
        return _rematch_fastapi(scope)
    path_format = (
        "/{path}" if isinstance(route, Mount | Host) else getattr(route, "path_format", None)
    )
    if not isinstance(path_format, str):
        return None
    return _join(scope, _mount_prefix(scope), path_format)


def _join(scope: Mapping[str, Any], prefix: str, own: str) -> str:
    """``prefix + own`` with any concrete mount parameter in ``prefix`` turned back into ``{name}``."""
    if prefix:
        path_params = scope.get("path_params")
        own_names = set(_PARAM.findall(own))
        mount_params = [
            (name, str(value))
            for name, value in (path_params.items() if isinstance(path_params, dict) else ())
            if name not in own_names
        ]
        if mount_params:
            prefix = _mount_template(scope, prefix) or _templated_prefix(prefix, mount_params)
    return (prefix + own) or "/"


def _mount_template(scope: Mapping[str, Any], concrete: str) -> str | None:
    """The template of the mounts that consumed ``concrete``, found by walking the mounts only.

    Used only when a mount path has parameters (rare): the first mount that fully matches at
    each level is the one the router took, since a router prefers the first full match.
    """
    routes = getattr(scope.get("router"), "routes", None)
    if not routes:
        return None
    app_root_path = scope.get("app_root_path", "")
    probe: dict[str, Any] = {
        "type": scope.get("type", "http"),
        "path": scope.get("path", ""),
        "root_path": app_root_path,
        "headers": scope.get("headers", []),
        "path_params": {},
    }
    template = ""
    for _ in range(8):
        consumed = probe["root_path"][len(app_root_path) :].rstrip("/")
        if consumed == concrete:
            return template
        if not concrete.startswith(consumed):
            return None
        for candidate in routes:
            if not isinstance(candidate, Mount | Host):
                continue
            match, child = candidate.matches(probe)
            if match is Match.FULL:
                probe.update(child)
                if isinstance(candidate, Mount):
                    template += candidate.path_format.removesuffix("/{path}")
                routes = candidate.routes
                break
        else:
            return None
    return None


def _fastapi_included_path(scope: Mapping[str, Any], route: object) -> tuple[str, int] | None:
    """The prefixed path FastAPI resolved for a route of an included router, if this is one.

    FastAPI keeps it as ``scope["fastapi"]["effective_route_context"]`` (read duck-typed; an
    older FastAPI copies prefixed routes at include time, so ``route.path_format`` is already
    complete and this returns ``None``). A context whose route is a mount of a router was only
    a step on the way and is ignored; any other context is the final route. Returns the path
    and how many segments of ``root_path`` the context's own mount already consumed.
    """
    fastapi_scope = scope.get("fastapi")
    if not isinstance(fastapi_scope, dict):
        return None
    context = fastapi_scope.get("effective_route_context")
    if context is None:
        return None
    starlette_route = getattr(context, "starlette_route", None)
    if isinstance(starlette_route, Host):
        return None
    if isinstance(starlette_route, Mount):
        if starlette_route.routes:
            return None
        return starlette_route.path_format, starlette_route.path.count("/")
    if starlette_route is None and getattr(context, "original_route", None) is not route:
        return None
    path = getattr(starlette_route, "path_format", None) or getattr(context, "path_format", None)
    return (path, 0) if isinstance(path, str) and path else None


def _rematch_fastapi(scope: Mapping[str, Any]) -> str | None:
    """Match again, from the outermost router, a request a FastAPI router served.

    FastAPI's router leaves ``scope["route"]`` untouched for plain Starlette routes and mounts,
    so only for those (and for unmatched requests of FastAPI apps) the routes are walked again
    on a copy of the scope. Pure Starlette apps never get here.
    """
    if "fastapi" not in scope:
        return None
    router = scope.get("router")
    routes = getattr(router, "routes", None)
    if not routes:
        return None
    probe: dict[str, Any] = dict(scope)
    probe["fastapi"] = {}
    probe["root_path"] = scope.get("app_root_path", scope.get("root_path", ""))
    probe.pop("app_root_path", None)
    probe["path_params"] = {}
    return _match_in(probe, routes, depth=0)


def _match_in(probe: dict[str, Any], routes: Any, depth: int) -> str | None:
    if depth > 8:
        return None
    partial: tuple[Any, dict[str, Any]] | None = None
    for candidate in routes:
        if not isinstance(candidate, Mount | Host) and not hasattr(candidate, "path_format"):
            continue  # FastAPI's included routers record their own routes
        match, child = candidate.matches(probe)
        if match is Match.FULL:
            return _descend(probe, candidate, child, depth)
        if match is Match.PARTIAL and partial is None:
            partial = (candidate, child)
    if partial is not None:
        return _descend(probe, partial[0], partial[1], depth)
    return None


def _descend(probe: dict[str, Any], route: Any, child: dict[str, Any], depth: int) -> str | None:
    probe.update(child)
    if isinstance(route, Mount | Host):
        if route.routes:
            return _match_in(probe, route.routes, depth + 1)
        own = "/{path}"
    else:
        own = route.path_format
    return _join(probe, _mount_prefix(probe), own)


def _mount_prefix(scope: Mapping[str, Any]) -> str:
    """The concrete path the mounts consumed, relative to the app (server root_path excluded)."""
    app_root_path = scope.get("app_root_path")
    if app_root_path is None:
        return ""
    root_path: str = scope.get("root_path", "")
    if not root_path.startswith(app_root_path):
        return ""
    return root_path[len(app_root_path) :].rstrip("/")


def _templated_prefix(prefix: str, mount_params: list[tuple[str, str]]) -> str:
    """Put ``{name}`` back where a mount parameter's concrete value sits in ``prefix``.

    The fallback when the mounts cannot be walked (a mount of an app that hides its routes).
    A value not found as such (a converter rewrote it, ``007`` -> ``7``) makes the whole prefix
    ``/{mount}``: a coarse label, never a raw one.
    """
    segments = prefix.split("/")
    cursor = len(segments) - 1
    for name, value in reversed(mount_params):
        if "/" in value:
            prefix_now = "/".join(segments)
            at = prefix_now.find("/" + value, 0)
            if at < 0:
                return "/{mount}"
            prefix_now = prefix_now[:at] + "/{" + name + "}" + prefix_now[at + 1 + len(value) :]
            segments = prefix_now.split("/")
            continue
        for index in range(cursor, 0, -1):
            if segments[index] == value:
                segments[index] = "{" + name + "}"
                cursor = index - 1
                break
        else:
            return "/{mount}"
    return "/".join(segments)
