"""A local stand-in for a Beckn network registry: ``POST /subscribe`` adds or replaces an entry,
``POST /lookup`` answers the entries that match (Beckn registry API shapes: a JSON list of
``{subscriber_id, unique_key_id, type, domain, country, subscriber_url, signing_public_key, status,
valid_from, valid_until}``).  For development and tests; a real network has its own registry
(and its own subscription handshake, which this skips).

``python -m services.marketplace.beckn.registry_standin --port 8198 [--entries FILE.json]``
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from aiohttp import web

_MATCH = ("subscriber_id", "unique_key_id", "type", "domain", "country")


class RegistryStandIn:
    def __init__(self, entries: list[dict[str, Any]] | None = None) -> None:
        self.entries: list[dict[str, Any]] = list(entries or [])
        self.lookups = 0

    def subscribe(self, entry: dict[str, Any]) -> None:
        entry = {"status": "SUBSCRIBED", **entry}
        self.entries = [e for e in self.entries if (e.get("subscriber_id"), e.get("unique_key_id")) !=
                        (entry.get("subscriber_id"), entry.get("unique_key_id"))] + [entry]

    async def _subscribe(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not body.get("subscriber_id") or not body.get("unique_key_id"):
            return web.json_response({"error": "subscriber_id and unique_key_id are required"}, status=400)
        self.subscribe(body)
        return web.json_response({"status": "SUBSCRIBED"})

    async def _lookup(self, request: web.Request) -> web.Response:
        self.lookups += 1
        query = await request.json()
        if not isinstance(query, dict):
            return web.json_response({"error": "a JSON object is expected"}, status=400)
        found = [e for e in self.entries
                 if all(query.get(k) in (None, "") or e.get(k) in (None, query.get(k)) for k in _MATCH)]
        return web.json_response(found)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/subscribe", self._subscribe)
        app.router.add_post("/lookup", self._lookup)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8198)
    parser.add_argument("--entries", help="a JSON file with a list of subscriber entries")
    args = parser.parse_args()
    entries = json.load(open(args.entries, encoding="utf-8")) if args.entries else []
    web.run_app(RegistryStandIn(entries).app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
