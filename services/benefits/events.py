"""Events benefits consumes (its outgoing events are declared in ``contracts``)."""

from __future__ import annotations

from kernel.area_replica import area_replica_subscription
from kernel.consumer import Subscription
from services.benefits import SERVICE

SUBSCRIPTIONS: list[Subscription] = [area_replica_subscription(SERVICE)]
