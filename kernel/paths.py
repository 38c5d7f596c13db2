"""Public paths: where a caller finds a service's path through the gateway.

Every link a service returns (``Location``, a ``report_csv`` link, a problem's ``instance``) is
built here, so it is the path a caller can use: the gateway mounts service ``svc``'s ``/x`` at
``/svc/x``, except the standards-shaped paths a service already serves under its own name
(:data:`VERBATIM_PATHS`, the DCI endpoints), which the gateway forwards unchanged.
"""

from __future__ import annotations

# Exact paths, not prefixes: the gateway's GatewayConfig.verbatim_paths defaults to this table, so
# the gateway's routing and the services' links cannot disagree.
VERBATIM_PATHS: dict[str, tuple[str, ...]] = {
    "registry": ("/registry/search", "/registry/sync/search", "/registry/subscribe", "/registry/unsubscribe",
                 "/registry/txn/status", "/registry/sync/txn/status"),
}

# Exact gateway paths whose callers sign each request themselves and are verified by the service,
# not by the gateway: the Beckn BPP's actions (BECKN-006 ``Authorization: Signature keyId=...``,
# the key looked up in the network registry).  A buyer app on an open network has no GramSetu key;
# on these paths (POST only) the gateway asks for none, limits by source address, and forwards
# that one ``Authorization`` header, and only when it is a ``Signature`` (a bearer token never
# leaves the gateway).
BECKN_ACTIONS = ("search", "select", "init", "confirm", "status", "track", "cancel", "update", "rating", "support")
SIGNED_PATHS: dict[str, tuple[str, ...]] = {
    "marketplace": tuple(f"/marketplace/beckn/{action}" for action in BECKN_ACTIONS),
}


def public_path(service: str | None, path: str, verbatim: tuple[str, ...] | list[str] | None = None) -> str:
    """The gateway path of ``service``'s own ``path`` (``None`` service: the path is already public)."""
    if not service:
        return path
    if path in (VERBATIM_PATHS.get(service, ()) if verbatim is None else verbatim):
        return path
    return f"/{service}{path}" if path != "/" else f"/{service}"
