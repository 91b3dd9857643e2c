"""Output schemas: how services and users look in API answers (the input is spec.py)."""

from marshmallow import Schema, fields

from swsapi.hostnotice import host_notice
from swscore.spec import API_VERSION, ENV_MASK, ServiceSpecSchema

# JSONB keeps keys in its own order; answer in the order the v1 spec declares them.
SPEC_ORDER = tuple(ServiceSpecSchema().fields)


def ordered_spec(service) -> dict:
    return {key: service.spec[key] for key in SPEC_ORDER if key in service.spec}


def masked_spec(spec: dict) -> dict:
    """The spec with every env value replaced by the mask (names stay visible)."""
    env = [{"name": e["name"], "value": ENV_MASK} for e in spec.get("env") or []]
    return {**spec, "env": env}


def desired_replicas(service) -> int:
    """The containers the service should run now: spec.replicas (1 when absent), 0 stopped."""
    return 0 if service.stopped else int((service.spec or {}).get("replicas") or 1)


class ServiceSchema(Schema):
    # First, so that `swsctl get -o yaml` output reads as a definition and applies as one.
    apiVersion = fields.Constant(API_VERSION)
    name = fields.String()
    owner = fields.Function(lambda service: service.owner.name)
    spec = fields.Function(ordered_spec)
    stack = fields.String(allow_none=True)
    generation = fields.Integer()
    applied_generation = fields.Integer()
    status = fields.String()
    # The user's stop: the agent stops the containers and reports status stopped.
    stopped = fields.Boolean()
    message = fields.String(allow_none=True)
    last_log = fields.String(allow_none=True)
    restart_count = fields.Integer()
    # Issue 28: containers of the serving generation that run, and how many should (the
    # spec's replicas; none while the service is stopped): `swsctl ls` shows them as 2/3.
    replicas_running = fields.Integer()
    replicas_desired = fields.Function(lambda service: desired_replicas(service))
    status_since = fields.DateTime()
    purge_volume = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    # The same for every service: a proxy or the load balancer the agent could not start.
    host_notice = fields.Function(lambda service: host_notice())


class StackServiceSchema(Schema):
    """One service in a stack's view: what `swsctl stack` shows of it."""

    name = fields.String()
    status = fields.String()
    stopped = fields.Boolean()
    domain = fields.String(allow_none=True)
    generation = fields.Integer()
    applied_generation = fields.Integer()
    message = fields.String(allow_none=True)
    last_log = fields.String(allow_none=True)


def dump_stack(name: str, services) -> dict:
    return {"name": name, "services": stack_service_schema.dump(services, many=True)}


class StackSummarySchema(Schema):
    name = fields.String()
    services = fields.Integer()
    status = fields.String()
    statuses = fields.Dict(keys=fields.String(), values=fields.Integer())


class GenerationSchema(Schema):
    generation = fields.Integer()
    cause = fields.String()
    rolled_back_to = fields.Integer(allow_none=True)
    spec = fields.Function(ordered_spec)
    spec_digest = fields.String()
    created_at = fields.DateTime()


def dump_history(service, generations, show_secrets: bool) -> dict:
    """A service's kept generations, newest first; env values masked unless show_secrets."""
    dumped = generation_schema.dump(generations, many=True)
    if not show_secrets:
        for generation in dumped:
            generation["spec"] = masked_spec(generation["spec"])
    return {"name": service.name, "generation": service.generation, "generations": dumped}


class AgentPassSchema(Schema):
    id = fields.Integer()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    changed = fields.Raw(allow_none=True)
    message = fields.String(allow_none=True)


class VolumeSchema(Schema):
    name = fields.String()
    owner = fields.Function(lambda volume: volume.owner.name if volume.owner else None)
    purge_requested = fields.Boolean()
    created_at = fields.DateTime()


class WhoamiSchema(Schema):
    name = fields.String()
    admin = fields.Boolean(attribute="is_admin")


class CertificateSchema(Schema):
    """A service's certificate (issue 15): never its key."""

    source = fields.String()
    domain = fields.String()
    state = fields.String()
    fingerprint = fields.String(allow_none=True)
    not_after = fields.DateTime(allow_none=True)
    message = fields.String(allow_none=True)
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class RegistrySchema(Schema):
    """A user's registry credentials (issue 26): the host and user name, never the password."""

    host = fields.String()
    username = fields.String()
    updated_at = fields.DateTime()


class NodeSchema(Schema):
    """A swarm node (issue 28), as the agent last saw it."""

    id = fields.String()
    name = fields.String()
    role = fields.String()
    state = fields.String()
    availability = fields.String()
    address = fields.String(allow_none=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    cpus = fields.Float(allow_none=True)
    memory_bytes = fields.Integer(allow_none=True)
    mem_free_bytes = fields.Integer(allow_none=True)
    disk_free_bytes = fields.Integer(allow_none=True)
    services = fields.List(fields.String())
    reported_at = fields.DateTime(allow_none=True)
    registered_at = fields.DateTime()
    last_seen_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


service_schema = ServiceSchema()
registry_schema = RegistrySchema()
stack_service_schema = StackServiceSchema()
stack_summary_schema = StackSummarySchema()
certificate_schema = CertificateSchema()
generation_schema = GenerationSchema()
whoami_schema = WhoamiSchema()
volume_schema = VolumeSchema()
agent_pass_schema = AgentPassSchema()
node_schema = NodeSchema()
