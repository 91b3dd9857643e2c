"""`sws-agent status`: what an operator asks first. Is the agent paused, is the data path up
(proxies, load balancer, their states in HAProxy), and what did the last passes do.

Each part says what it could not find out instead of failing: a status is most wanted when
something is down.
"""

from __future__ import annotations

import psycopg2

from swsagent import collection, pause, store
from swsagent.config import AgentConfig
from swsagent.controlplane import observe_components
from swsagent.observe import haproxy_server_states


def status_text(config: AgentConfig, passes: int = 10) -> str:
    collection.use(config.project_dir)
    lines = []
    if pause.paused(config.state_dir):
        lines.append(f"agent: paused {pause.reason(config.state_dir)}")
    else:
        lines.append("agent: active")
    lines.append("control plane:")
    names = [config.names.loadbalancer, *config.names.proxies]
    components = observe_components(names)
    states = haproxy_server_states(config.haproxy_socket, config.names.haproxy_backend)
    width = max(len(n) for n in names)
    for name in names:
        line = f"  {name:<{width}}  {components[name].status}"
        if components[name].detail:
            line += f" ({components[name].detail})"
        if name in config.names.proxies:
            line += f", in HAProxy: {states.get(name, 'unknown')}"
        lines.append(line)
    lines.append("last passes:")
    lines.extend("  " + row for row in _passes(config, passes))
    return "\n".join(lines) + "\n"


def _passes(config: AgentConfig, limit: int) -> list[str]:
    try:
        conn = store.connect(config.database_url, "sws-agent status", config.store_timeout)
    except psycopg2.Error as err:
        return [f"the store cannot be reached: {str(err).strip()}"]
    try:
        with conn.cursor() as cur:
            cur.execute(
                """SELECT id, started_at, finished_at - started_at, outcome, changed, message
                   FROM agent_passes ORDER BY id DESC LIMIT %s""",
                (limit,),
            )
            rows = cur.fetchall()
    except psycopg2.Error as err:
        return [f"the store cannot be read: {str(err).strip()}"]
    finally:
        conn.close()
    out = []
    for pass_id, started, took, outcome, changed, message in rows:
        seconds = f"{took.total_seconds():.2f}s" if took is not None else "-"
        text = f"#{pass_id} {started:%Y-%m-%d %H:%M:%S} {seconds:>8} {outcome}"
        if changed:
            text += " " + " ".join(f"{k}={_short(v)}" for k, v in sorted(changed.items()))
        if message:
            text += f": {message}"
        out.append(text)
    return out or ["none yet"]


def _short(value) -> str:
    if isinstance(value, dict):
        return ",".join(sorted(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
