"""Output schemas: how services and users look in API answers (the input is spec.py)."""

from marshmallow import Schema, fields

from swsapi.spec import API_VERSION, ServiceSpecSchema

# JSONB keeps keys in its own order; answer in the order the v1 spec declares them.
SPEC_ORDER = tuple(ServiceSpecSchema().fields)


def ordered_spec(service) -> dict:
    return {key: service.spec[key] for key in SPEC_ORDER if key in service.spec}


class ServiceSchema(Schema):
    # First, so that `swsctl get -o yaml` output reads as a definition and applies as one.
    apiVersion = fields.Constant(API_VERSION)
    name = fields.String()
    owner = fields.Function(lambda service: service.owner.name)
    spec = fields.Function(ordered_spec)
    generation = fields.Integer()
    applied_generation = fields.Integer()
    status = fields.String()
    message = fields.String(allow_none=True)
    last_log = fields.String(allow_none=True)
    purge_volume = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WhoamiSchema(Schema):
    name = fields.String()
    admin = fields.Boolean(attribute="is_admin")


service_schema = ServiceSchema()
whoami_schema = WhoamiSchema()
