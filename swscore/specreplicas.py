"""spec.replicas (issue 28): how many containers of each generation serve side by side.

On a single host they are containers beside each other, each contained, labelled and networked
as the one container of a service always was; the proxies spread requests over them. The
schema's own ceiling is MAX_REPLICAS (swsctl checks it on a laptop); the operator's cap, at most
this, is the apiserver's SWS_MAX_REPLICAS.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields

MAX_REPLICAS = 100
REPLICAS_WITH_VOLUME = (
    "must be 1 for a service with a volumeMount: its volume has one writer (update: recreate"
    " stops the old container before the new one starts), and replicas would be several"
    " containers writing it at once"
)


class ReplicaCount(fields.Field):
    """A whole number of replicas, 1 to MAX_REPLICAS (not true, 2.0 or "2")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be a whole number from 1 to {MAX_REPLICAS}")
        if not 1 <= value <= MAX_REPLICAS:
            raise ValidationError(f"must be a whole number from 1 to {MAX_REPLICAS}")
        return int(value)  # a WrittenInt (loads_json) becomes a plain int


def check_replicas_volume(data: dict) -> None:
    """One container per volume: a service with a volumeMount has exactly one replica."""
    if (data.get("replicas") or 1) > 1 and data.get("volumeMount"):
        raise ValidationError(REPLICAS_WITH_VOLUME, "replicas")
