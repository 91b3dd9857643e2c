"""The store's tables (sws-confdb).

Column names are a contract with the agent and the dynamic inventory: see ARCHITECTURE.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from swsapi.extensions import db
from swscore.contract import NodeState, ServiceStatus, sql_list


def _now_column(**kwargs) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), **kwargs)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    service_quota: Mapped[int | None] = mapped_column(Integer)  # NULL: SWS_SERVICE_QUOTA
    created_at: Mapped[datetime] = _now_column()

    tokens: Mapped[list[Token]] = relationship(back_populates="user")


class Token(db.Model):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")


class Service(db.Model):
    __tablename__ = "services"
    # Read server-set columns (id, times) back with RETURNING, so an answer needs no reload.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"status IN {sql_list()}", name="status"),
        Index("ix_services_owner_id_stack", "owner_id", "stack"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # NULL: a private service (no route, no certificate); unique all the same.
    domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    spec: Mapped[dict] = mapped_column(JSONB)
    spec_digest: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    applied_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(
        String(16), default=ServiceStatus.PENDING.value, server_default=ServiceStatus.PENDING.value
    )
    message: Mapped[str | None] = mapped_column(Text)
    last_log: Mapped[str | None] = mapped_column(Text)
    # spec.stack, kept equal to it by every apply: a stack's services by index, not by JSON.
    stack: Mapped[str | None] = mapped_column(String(32))
    # The desired state set by stop and start; the agent reports status stopped once the
    # containers are gone. A stopped service keeps its spec, volume, history and quota slot.
    stopped: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set by a delete with purge: the agent removes the volume <name>-volume with the service.
    purge_volume: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The domain of the generation that serves (the agent sets it when one goes live): kept
    # reserved to this service while an update to another domain has not gone live.
    served_domain: Mapped[str | None] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column(onupdate=func.now())
    # The restarts of the newest running container (the log shipper reads them from Docker).
    restart_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Running containers of the serving generation, of spec.replicas (migration 0014).
    replicas_running: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The swarm node holding its volume (migration 0015): its generations are pinned there.
    volume_node: Mapped[str | None] = mapped_column(String(255))
    # When status last changed: a trigger (migration 0004) sets it; read back after an update.
    status_since: Mapped[datetime] = _now_column(server_onupdate=FetchedValue())

    owner: Mapped[User] = relationship()


class ServiceDomain(db.Model):
    """A domain one service answers on (issue 27): its spec's domain, an alias or a redirect.
    The primary key keeps each name one service's across the three (migration 0008)."""

    __tablename__ = "service_domains"
    __table_args__ = (CheckConstraint("role IN ('domain', 'alias', 'redirect')", name="role"),)

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(8))


class ServiceGeneration(db.Model):
    """The spec one generation of a service was applied with: its history, for rollback.

    Bounded per service (SWS_HISTORY_KEPT) and deleted with the service's record, so a user who
    later takes the same name finds no trace of the previous owner's specs.
    """

    __tablename__ = "service_generations"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (UniqueConstraint("service_id", "generation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict] = mapped_column(JSONB)
    spec_digest: Mapped[str] = mapped_column(String(64))
    # Why the generation was made: apply, restart or rollback (to rolled_back_to's spec).
    cause: Mapped[str] = mapped_column(String(16))
    rolled_back_to: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()


class Volume(db.Model):
    """Who a service volume `<name>-volume` belongs to; kept after a delete without purge."""

    __tablename__ = "volumes"
    __mapper_args__ = {"eager_defaults": True}

    name: Mapped[str] = mapped_column(String(70), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # NULL: admins
    # Made before volumes carried an owner label; the store vouches for it (migration 0005).
    adopted: Mapped[bool] = mapped_column(default=False, server_default=false())
    # An administrator asked for it to go: the agent removes it, then this row.
    purge_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The swarm node holding it (migration 0016): it outlives the service's volume_node.
    node: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_column()

    owner: Mapped[User | None] = relationship()


class Certificate(db.Model):
    """The HTTPS certificate of one of a service's domains (issue 15; one a domain, alias or
    redirect since issue 27): uploaded, or issued by ACME on the host.

    The chain is public; the key is stored only sealed to the host's key (swscore/sealing.py).
    """

    __tablename__ = "certificates"
    __mapper_args__ = {"eager_defaults": True}

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16))  # uploaded or acme
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    chain_pem: Mapped[str | None] = mapped_column(Text)
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # sha256 of the leaf, hex
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # uploaded; acme: pending, issued, failed (with message, attempts and next_attempt_at).
    state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class RegistryCredential(db.Model):
    """A user's credentials for one private registry (issue 26): the agent pulls that user's
    images with them. The password is stored only sealed to the host's key
    (swscore/sealing.py), as certificate keys are: the apiserver can never show it again."""

    __tablename__ = "registry_credentials"
    __table_args__ = (
        UniqueConstraint("user_id", "host", name="uq_registry_credentials_user_host"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(260))  # host[:port], as Docker keys credentials
    username: Mapped[str] = mapped_column(String(255))
    password_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class AgentPass(db.Model):
    """One reconcile pass of the agent; the agent writes these, the apiserver only migrates them."""

    __tablename__ = "agent_passes"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = _now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))
    changed: Mapped[dict | list | None] = mapped_column(JSONB)
    message: Mapped[str | None] = mapped_column(Text)


class Node(db.Model):
    """A swarm node (issue 28); the agent writes these from the manager's node list and each
    node's report, the apiserver only reads them (GET /v1/nodes)."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the swarm's node ID
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    availability: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    cpus: Mapped[float | None] = mapped_column(Float)
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mem_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    services: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime] = _now_column()
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now_column()
    __table_args__ = (CheckConstraint(f"state IN {sql_list(tuple(NodeState))}", name="state"),)


class ServiceLog(db.Model):
    """One line of a service container's output; the log shipper writes these, trimmed to the
    last lines of each service. The id is the API's cursor: it orders lines as they arrived."""

    __tablename__ = "service_logs"
    __table_args__ = (Index("ix_service_logs_service_id_id", "service_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Lines go with the service's record, so a user who reuses the name sees none of them.
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    container: Mapped[str] = mapped_column(String(255))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stream: Mapped[str] = mapped_column(String(6))
    line: Mapped[str] = mapped_column(Text)


class LogStream(db.Model):
    """A log stream the apiserver holds open; counted per user for SWS_MAX_STREAMS_PER_USER.
    seen_at is refreshed while the stream lives, so a killed worker's rows soon stop counting."""

    __tablename__ = "log_streams"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = _now_column()
    seen_at: Mapped[datetime] = _now_column()


JOB_STATES = ("pending", "running", "succeeded", "failed", "timed_out", "stopped", "skipped")
JOB_UNFINISHED = ("pending", "running")


class JobRun(db.Model):
    """One run of a command beside a service (issue 26): asked for by its owner (job NULL) or
    scheduled from spec.jobs (job, scheduled_for). The apiserver writes the request and the
    stop; the agent the rest (migration 0010)."""

    __tablename__ = "job_runs"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"state IN {JOB_STATES}", name="state"),
        UniqueConstraint("service_id", "job", "scheduled_for", name="uq_job_runs_minute"),
        Index("ix_job_runs_service_id_id", "service_id", "id"),
        Index(
            "ix_job_runs_unfinished",
            "state",
            postgresql_where=text("state IN ('pending', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    job: Mapped[str | None] = mapped_column(String(63))
    command: Mapped[list] = mapped_column(JSONB)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int | None] = mapped_column(Integer)
    container: Mapped[str | None] = mapped_column(String(255))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    stop_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    output_done: Mapped[bool] = mapped_column(default=False, server_default=false())


class JobRunLine(db.Model):
    """One line of a run's output; the log shipper writes these (the id is the cursor)."""

    __tablename__ = "job_run_lines"
    __table_args__ = (Index("ix_job_run_lines_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("job_runs.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stream: Mapped[str] = mapped_column(String(6))
    line: Mapped[str] = mapped_column(Text)


BACKUP_STATES = ("pending", "dumping", "holding", "copying", "kept", "failed")
BACKUP_UNFINISHED = ("pending", "dumping", "holding", "copying")
RESTORE_STATES = ("pending", "restoring", "done", "failed")


class Backup(db.Model):
    """One copy of a service's volume (issue 27), kept on the host as a file the agent wrote
    (<backups_dir>/<owner id>/<service>/<id>.tar). The apiserver writes the request; the
    agent the rest (migration 0012). It goes with its volume's row: a purge."""

    __tablename__ = "backups"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"state IN {BACKUP_STATES}", name="state"),
        CheckConstraint("cause IN ('user', 'schedule')", name="cause"),
        UniqueConstraint("volume", "scheduled_for", name="uq_backups_minute"),
        Index("ix_backups_volume_id", "volume", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    volume: Mapped[str] = mapped_column(ForeignKey("volumes.name", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(63))
    cause: Mapped[str] = mapped_column(String(16), default="user")
    command: Mapped[list | None] = mapped_column(JSONB)
    dump_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    # The agent holds the service stopped for the copy (update: recreate, no dump command).
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    container: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Restore(db.Model):
    """A restore of a service's volume from a kept backup or an uploaded file the apiserver
    spooled (`upload`: the spool file's name, made by the apiserver). While pending or
    restoring it holds the service stopped (migration 0012)."""

    __tablename__ = "restores"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"state IN {RESTORE_STATES}", name="state"),
        Index("ix_restores_volume_id", "volume", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    volume: Mapped[str] = mapped_column(ForeignKey("volumes.name", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(63))
    backup_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("backups.id", ondelete="SET NULL")
    )
    upload: Mapped[str | None] = mapped_column(String(64))
    upload_bytes: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    container: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
