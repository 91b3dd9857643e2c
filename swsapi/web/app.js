// The SWS web view: sign in with a token, then read and act through the /v1 API with the
// session cookie. Every change sends the session's CSRF token in X-CSRF-Token. Text from the
// API (service names, log lines) is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const REFRESH_LIST_MS = 5000;
  const REFRESH_SERVICE_MS = 3000;
  const LOG_TAIL = 50;
  // shown: what each list was last drawn from. A refresh that finds the same data leaves the
  // page alone, so a button is never replaced under the pointer.
  const state = { csrf: null, name: null, timer: null, shown: {} };
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) {
      data = await response.json();
    }
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || response.statusText;
      throw new ApiError(response.status, message);
    }
    return data;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function notice(text, isError) {
    const box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
    box.className = isError ? "error" : "";
  }

  function show(section) {
    for (const id of ["sign-in", "services", "service", "nodes"]) $(id).hidden = id !== section;
    $("sign-out").hidden = section === "sign-in";
  }

  function stopRefresh() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }

  function refreshLater(ms) {
    stopRefresh();
    state.timer = setTimeout(() => route().catch(failed), ms);
  }

  function failed(err) {
    if (err instanceof ApiError && err.status === 401) {
      signedOut("Your session has ended; sign in again.");
      return;
    }
    notice(err.message || String(err), true);
  }

  function age(timestamp) {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
    if (!Number.isFinite(seconds)) return "";
    if (seconds < 120) return `${seconds}s ago`;
    if (seconds < 7200) return `${Math.floor(seconds / 60)}m ago`;
    if (seconds < 172800) return `${Math.floor(seconds / 3600)}h ago`;
    return `${Math.floor(seconds / 86400)}d ago`;
  }

  function domainLink(domain) {
    if (!domain) return element("span", "private (no domain)", "private");
    // Services are served by the same load balancer as this page: same scheme and port.
    const port = window.location.port ? `:${window.location.port}` : "";
    const link = element("a", domain);
    link.href = `${window.location.protocol}//${domain}${port}/`;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }

  function statusBadge(status) {
    return element("span", status, `status ${status}`);
  }

  // The service list ----------------------------------------------------------------

  async function showServices() {
    const { services } = await api("GET", "/v1/services");
    show("services");
    refreshLater(REFRESH_LIST_MS);
    if (unchanged("services", services)) return;
    const list = $("service-list");
    list.replaceChildren();
    // One heading a stack, in name order; the services in no stack under their own, last.
    const groups = new Map();
    for (const service of services) {
      const stack = service.stack || "";
      if (!groups.has(stack)) groups.set(stack, []);
      groups.get(stack).push(service);
    }
    const stacks = [...groups.keys()].filter((stack) => stack).sort();
    if (groups.has("")) stacks.push("");
    for (const stack of stacks) {
      const section = element("section", null, "stack");
      section.dataset.stack = stack;
      const heading = stack ? `Stack ${stack}` : "Not in a stack";
      const cards = element("ul", null, "cards");
      for (const service of groups.get(stack)) cards.append(serviceCard(service));
      section.append(element("h3", heading), cards);
      list.append(section);
    }
    $("no-services").hidden = services.length > 0;
  }

  function serviceCard(service) {
    const item = element("li");
    item.dataset.service = service.name;
    const name = element("a", service.name, "name");
    name.href = `#/services/${encodeURIComponent(service.name)}`;
    const line = element("div");
    line.append(statusBadge(service.status), " ", replicasText(service), " ", domainLink(service.spec.domain));
    item.append(name, line, element("p", service.last_log || "(no log line yet)", "last-log"));
    return item;
  }

  // Running/desired containers (spec.replicas, issue 28), as `swsctl ls` shows them.
  function replicasText(service) {
    const desired = service.replicas_desired ?? 1;
    return element("span", `${service.replicas_running ?? 0}/${desired}`, "replicas");
  }

  function unchanged(what, data) {
    const drawn = JSON.stringify(data);
    if (state.shown[what] === drawn) return true;
    state.shown[what] = drawn;
    return false;
  }

  // One service ---------------------------------------------------------------------

  async function showService(name) {
    const [service, history, jobs] = await Promise.all([
      api("GET", `/v1/services/${encodeURIComponent(name)}`),
      api("GET", `/v1/services/${encodeURIComponent(name)}/history`),
      api("GET", `/v1/services/${encodeURIComponent(name)}/jobs?limit=20`).catch((err) => {
        if (err instanceof ApiError && err.status === 401) throw err;
        return null; // a server without jobs, or one that failed: the table stays empty
      }),
    ]);
    $("service-name").replaceChildren(service.name, " ", statusBadge(service.status));
    const facts = $("service-facts");
    facts.replaceChildren();
    const rows = [
      ["Domain", domainLink(service.spec.domain)],
      ["Image", service.spec.image],
      ["Port", service.spec.port],
      ["Generation", `${service.generation} (applied ${service.applied_generation})`],
      ["Replicas", `${service.replicas_running ?? 0} running of ${service.replicas_desired ?? 1}`],
      ["Message", service.message || "(none)"],
    ];
    for (const [label, value] of rows) {
      const dd = element("dd");
      dd.append(value instanceof Node ? value : String(value));
      facts.append(element("dt", label), dd);
    }
    renderHistory(service, history);
    renderJobs(jobs);
    await showLog(service);
    show("service");
    refreshLater(REFRESH_SERVICE_MS);
  }

  // The log tail: GET /v1/services/<name>/logs?tail=N when the server has it; a server
  // without that endpoint (or with the logs unavailable) shows the last log line instead.
  async function showLog(service) {
    const box = $("log");
    let lines = null;
    try {
      const page = await api(
        "GET",
        `/v1/services/${encodeURIComponent(service.name)}/logs?tail=${LOG_TAIL}`,
      );
      if (page && Array.isArray(page.lines)) {
        lines = page.lines.map((l) => (typeof l === "string" ? l : l.line));
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      lines = null;
    }
    if (!lines || lines.length === 0) lines = service.last_log ? [service.last_log] : [];
    box.textContent = lines.length ? lines.join("\n") : "(no log lines yet)";
    box.scrollTop = box.scrollHeight;
  }

  // The newest job runs (one-off and scheduled): every value is text, never markup.
  function renderJobs(jobs) {
    const runs = (jobs && jobs.runs) || [];
    if (unchanged("jobs", runs)) return;
    const body = $("jobs").tBodies[0];
    body.replaceChildren();
    $("no-jobs").hidden = runs.length > 0;
    $("jobs").hidden = runs.length === 0;
    for (const run of runs) {
      const row = element("tr");
      const cells = [
        ["Run", run.id],
        ["Job", run.job || "(one-off)"],
        ["Command", (run.command || []).join(" ")],
        ["State", run.state],
        ["Exit", run.exit_code === null || run.exit_code === undefined ? "" : run.exit_code],
        ["Started", run.started_at ? age(run.started_at) : ""],
        ["Message", run.message || ""],
      ];
      for (const [label, value] of cells) {
        const cell = element("td", String(value));
        cell.dataset.label = label;
        row.append(cell);
      }
      body.append(row);
    }
  }

  function renderHistory(service, history) {
    if (unchanged("history", [service.name, service.generation, history])) return;
    const body = $("history").tBodies[0];
    body.replaceChildren();
    for (const entry of history.generations) {
      const row = element("tr");
      row.dataset.generation = entry.generation;
      const current = entry.generation === service.generation;
      if (current) row.className = "current";
      const cause =
        entry.cause === "rollback" ? `rollback to ${entry.rolled_back_to}` : entry.cause;
      const cells = [
        ["Generation", current ? `${entry.generation} (current)` : entry.generation],
        ["Made", age(entry.created_at)],
        ["Cause", cause],
        ["Image", entry.spec.image],
        ["Domain", entry.spec.domain],
      ];
      for (const [label, value] of cells) {
        const cell = element("td", value);
        cell.dataset.label = label; // the narrow layout shows each cell with its label
        row.append(cell);
      }
      const action = element("td", undefined, "action");
      if (!current) {
        const button = element("button", "Roll back", "rollback");
        button.type = "button";
        button.addEventListener("click", () => rollback(service.name, entry.generation, button));
        action.append(button);
      }
      row.append(action);
      body.append(row);
    }
  }

  async function rollback(name, generation, button) {
    button.disabled = true;
    try {
      const result = await api(
        "POST",
        `/v1/services/${encodeURIComponent(name)}/rollback`,
        { generation },
      );
      notice(
        result.result === "unchanged"
          ? `Generation ${generation}'s spec is already the current one.`
          : `Rolled back to the spec of generation ${generation}: ` +
              `now generation ${result.generation} (${result.status}).`,
      );
      await showService(name);
    } catch (err) {
      button.disabled = false;
      failed(err);
    }
  }

  // The swarm's nodes (administrators) ----------------------------------------------

  function bytes(value) {
    if (typeof value !== "number") return "-";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit ? `${value.toFixed(1)}${units[unit]}` : `${value}B`;
  }

  async function showNodes() {
    const { nodes } = await api("GET", "/v1/nodes");
    show("nodes");
    refreshLater(REFRESH_LIST_MS);
    if (unchanged("nodes", nodes)) return;
    const rows = nodes.map((node) => {
      const row = element("tr");
      row.dataset.node = node.name;
      const cells = [
        node.name,
        node.role,
        statusBadge(node.state),
        node.availability,
        (node.services || []).join(", ") || "-",
        bytes(node.mem_free_bytes),
        bytes(node.disk_free_bytes),
        node.last_seen_at ? age(node.last_seen_at) : "-",
      ];
      for (const cell of cells) {
        const td = element("td");
        td.append(cell);
        row.append(td);
      }
      return row;
    });
    $("node-table").tBodies[0].replaceChildren(...rows);
    $("no-nodes").hidden = nodes.length > 0;
  }

  // Signing in and out --------------------------------------------------------------

  function signedOut(message) {
    stopRefresh();
    state.shown = {};
    state.csrf = null;
    state.name = null;
    $("who").textContent = "";
    $("nodes-link").hidden = true;
    notice(message || "");
    show("sign-in");
    $("token").focus();
  }

  function signedIn(who) {
    state.csrf = who.csrf_token;
    state.name = who.name;
    $("who").textContent = who.name;
    $("nodes-link").hidden = !who.admin;
  }

  async function signIn(event) {
    event.preventDefault();
    const input = $("token");
    try {
      signedIn(await api("POST", "/v1/session", { token: input.value.trim() }));
      input.value = "";
      notice("");
      await route();
    } catch (err) {
      input.value = "";
      notice(
        err instanceof ApiError && err.status === 401 ? "That token was refused." : err.message,
        true,
      );
    }
  }

  async function signOut() {
    try {
      await api("DELETE", "/v1/session");
    } catch (err) {
      // Signed out either way: a session that had already ended is no failure here.
    }
    signedOut("Signed out.");
  }

  function route() {
    if (!state.csrf) return Promise.resolve(signedOut());
    if (window.location.hash === "#/nodes") return showNodes();
    const match = window.location.hash.match(/^#\/services\/([^/]+)$/);
    return match ? showService(decodeURIComponent(match[1])) : showServices();
  }

  async function start() {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    window.addEventListener("hashchange", () => {
      notice("");
      route().catch(failed);
    });
    try {
      signedIn(await api("GET", "/v1/session"));
    } catch (err) {
      signedOut();
      return;
    }
    route().catch(failed);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
