"""Walk every route of the dashboard app and read the access policy each declares.

A route declares its policy through a dependency marked by dashboard/security.py
(public, current_user, require_role, patient_access). ``unguarded`` lists every
route that declares none, every ``{patient_id}`` route without the patient check,
every mount or framework route that is not on the app's declared public lists, and
every unsafe route (POST, PUT, PATCH, DELETE) whose permission to act is not declared in
dashboard/security.py ``STATE_CHANGES`` (and every entry there that matches no route).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, Route

from dashboard.app import PUBLIC_FRAMEWORK_PATHS, PUBLIC_MOUNTS, SELF_AUTHENTICATED_MOUNTS
from dashboard.security import (
    STATE_CHANGES,
    AccessPolicy,
    ActsOn,
    declared_action,
    policies_of,
    verify_action,
    verify_csrf,
)

PARAM = re.compile(r"{([^}:]+)(:[^}]+)?}")


@dataclass(frozen=True)
class Endpoint:
    path: str
    methods: tuple[str, ...]
    policies: tuple[AccessPolicy, ...]
    csrf: bool  # the app-wide CSRF dependency runs for it
    mount: str = ""  # a self-authenticated mount this endpoint lives under
    required_query: tuple[str, ...] = ()

    @property
    def params(self) -> list[str]:
        return [m.group(1) for m in PARAM.finditer(self.path)]

    @property
    def kinds(self) -> set[str]:
        return {p.kind for p in self.policies}

    def acts(self, method: str) -> ActsOn | None:
        """The declared permission to act of an unsafe method of this route."""
        return declared_action(method, self.path)


def policies(dependant: Dependant | None) -> tuple[AccessPolicy, ...]:
    """Every access policy in a route's dependency tree."""
    found: list[AccessPolicy] = []
    stack = [dependant] if dependant else []
    while stack:
        node = stack.pop()
        policy = policies_of(node.call)
        if policy is not None:
            found.append(policy)
        stack.extend(node.dependencies)
    return tuple(found)


def _api_endpoints(routes: list[object], prefix: str = "", mount: str = "") -> list[Endpoint]:
    found = []
    for context in iter_route_contexts(routes):  # FastAPI's view of included routers
        route = context.original_route
        dependant = getattr(context, "dependant", None)
        if isinstance(route, APIRoute):
            methods = tuple(sorted(set(context.methods) - {"HEAD"}))
            query = tuple(_required_query(dependant))
            found.append(Endpoint(prefix + context.path, methods, policies(dependant),
                                  _csrf_checked(dependant), mount, query))
        elif isinstance(route, APIWebSocketRoute):
            found.append(Endpoint(prefix + context.path, ("WEBSOCKET",), policies(dependant),
                                  True, mount))
    return found


def endpoints(app: FastAPI) -> tuple[list[Endpoint], list[str]]:
    """(the app's endpoints, the problems found while walking)."""
    found: list[Endpoint] = _api_endpoints(app.routes)
    problems: list[str] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute | APIWebSocketRoute):
            continue
        if isinstance(route, Mount):
            if route.path in PUBLIC_MOUNTS:
                continue
            if route.path in SELF_AUTHENTICATED_MOUNTS and isinstance(route.app, FastAPI):
                found += _api_endpoints(route.app.routes, prefix=route.path, mount=route.path)
                continue
            problems.append(f"mount {route.path}: not declared public or self-authenticated")
        elif isinstance(route, Route) and route.path in PUBLIC_FRAMEWORK_PATHS:
            continue
        else:
            problems.append(f"{type(route).__name__} {getattr(route, 'path', route)}: "
                            "not an API route with an access policy")
    return found, problems


def _required_query(dependant: Dependant | None) -> list[str]:
    stack = [dependant] if dependant else []
    names = []
    while stack:
        node = stack.pop()
        names += [p.alias for p in node.query_params if p.field_info.is_required()]
        stack.extend(node.dependencies)
    return names


def _runs(dependant: Dependant | None, call: object) -> bool:
    stack = [dependant] if dependant else []
    while stack:
        node = stack.pop()
        if node.call is call:
            return True
        stack.extend(node.dependencies)
    return False


def _csrf_checked(dependant: Dependant | None) -> bool:
    """Both app-wide checks of unsafe requests run: the CSRF token and the permission
    to act (dashboard/app.py create_app)."""
    return _runs(dependant, verify_csrf) and _runs(dependant, verify_action)


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def unguarded(app: FastAPI) -> list[str]:
    """Every route that forgot to declare who may use it."""
    found, problems = endpoints(app)
    for e in found:
        if e.mount:
            continue
        where = f"{'/'.join(e.methods)} {e.path}"
        if not e.policies:
            problems.append(f"{where}: declares no access policy")
        elif "patient_id" in e.params and "patient" not in e.kinds:
            problems.append(f"{where}: has {{patient_id}} but no patient_access check")
        if not e.csrf:
            problems.append(f"{where}: the app-wide CSRF and permission checks do not run "
                            "for it")
        for method in UNSAFE.intersection(e.methods):
            if e.acts(method) is None:
                problems.append(f"{method} {e.path}: declares no permission to act (add it "
                                "to dashboard/security.py STATE_CHANGES)")
    routes = {f"{m} {e.path}" for e in found if not e.mount for m in e.methods}
    problems += [f"{key}: declared in STATE_CHANGES but no such route"
                 for key in STATE_CHANGES if key not in routes]
    return problems
