// Verdict alert console: live alerts (server-sent events), filters, detail, analyst verdicts.
// Plain DOM, no framework, nothing loaded from elsewhere. The list holds at most MAX_KEPT
// alerts and draws at most `shown` rows; updates are batched into one frame.
"use strict";
(() => {
  const MAX_KEPT = 5000;
  const PAGE = 200;
  const SEVERITIES = ["critical", "high", "medium", "low"];
  const STATUS_TEXT = { open: "To review", fraud: "Fraud", legitimate: "Legitimate" };
  const FEATURE_NAMES = {
    amount: "Amount",
    cust_count_1h: "Transactions in 1 h",
    cust_count_1d: "Transactions in 1 day",
    cust_count_30d: "Transactions in 30 days",
    cust_amount_zscore_30d: "Amount vs usual (z-score)",
    cust_amount_mean_30d: "Mean amount, 30 days",
    cust_amount_sum_1d: "Spent in 1 day",
    cust_amount_sum_30d: "Spent in 30 days",
    cust_new_device: "New device",
    cust_foreign: "Abroad",
    cust_seconds_since_last: "Seconds since last",
    cust_distinct_terminals_30d: "Merchants in 30 days",
    cust_distinct_countries_30d: "Countries in 30 days",
    term_fraud_rate_7d: "Merchant fraud rate, 7 days",
    device_distinct_customers_1d: "Customers on device, 1 day",
    is_night: "At night",
  };
  const $ = (id) => document.getElementById(id);
  const state = {
    alerts: [], byId: new Map(), pending: [], frame: 0, shown: PAGE, selected: null,
    source: null, announced: 0, announceTimer: 0, unannounced: 0, rows: new Map(),
  };

  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  };
  const time = (ts) => {
    const d = new Date(typeof ts === "number" ? ts * 1000 : ts);
    const today = new Date().toDateString() === d.toDateString();
    const clock = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    return today ? clock : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${clock}`;
  };
  const num = (v, digits = 2) => (v == null ? "–" : Number(v).toLocaleString([], { maximumFractionDigits: digits }));
  const shortRef = (ref) => `${ref.slice(0, 8)}…${ref.slice(-3)}`;
  const score = (v) => (v == null ? "–" : Number(v).toFixed(2));
  // The reason that says most: a model's or a rule's, rather than "score above threshold".
  const mainReason = (reasons) => (reasons || []).find((r) => !r.code.endsWith("_score_high")) || (reasons || [])[0];
  const bar = (score) => {
    const outer = el("span", { class: score >= 0.75 ? "bar hot" : "bar", "aria-hidden": "true" });
    const inner = el("i");
    inner.style.width = `${Math.round(Math.max(0, Math.min(1, score)) * 100)}%`;
    outer.append(inner);
    return outer;
  };
  const announce = (text) => { $("announce").textContent = text; };

  async function call(path, body) {
    const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  // --- session -------------------------------------------------------------------------
  async function start() {
    const session = await call("/console/api/session").catch(() => ({ ok: false, status: 0 }));
    if (session.status === 401) return showLogin();
    if (!session.ok) { setConn("down", "Cannot reach the server"); setTimeout(start, 3000); return; }
    $("logout").hidden = !session.data.auth;
    showApp();
  }
  function showLogin(message = "") {
    if (state.source) { state.source.close(); state.source = null; }
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message;
    setConn("", "Signed out");
    $("token").focus();
  }
  function showApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    connect();
  }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("/console/login", { token: $("token").value });
    $("token").value = "";
    if (result.ok) start();
    else $("login-error").textContent = result.status === 401 ? "That token is not valid." : "Sign-in failed; try again.";
  });
  $("logout").addEventListener("click", async () => { await call("/console/logout", {}); showLogin(); });

  // --- live alerts ---------------------------------------------------------------------
  function setConn(kind, text) { const c = $("conn"); c.className = `conn ${kind}`; c.textContent = text; }
  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource("/console/api/events");
    state.source = source;
    source.onopen = () => setConn("live", "Live");
    source.onerror = async () => {
      setConn("down", "Reconnecting…");
      const session = await call("/console/api/session").catch(() => ({ status: 0 }));
      if (session.status === 401) showLogin("Your session has ended: sign in again.");
    };
    source.addEventListener("snapshot", (e) => receive(JSON.parse(e.data).alerts, true));
    source.addEventListener("alerts", (e) => receive(JSON.parse(e.data).alerts, false));
    source.addEventListener("verdicts", (e) => {
      for (const v of JSON.parse(e.data).verdicts) {
        const alert = state.byId.get(v.alert_id);
        if (alert) alert.verdict = v.verdict;
      }
      schedule();
    });
  }
  function receive(alerts, snapshot) {
    for (const alert of alerts) {  // newest first
      const known = state.byId.get(alert.alert_id);
      if (known) { if (alert.verdict) known.verdict = alert.verdict; continue; }
      alert.fresh = !snapshot;
      alert.t = typeof alert.ts === "number" ? alert.ts * 1000 : Date.parse(alert.ts);
      state.byId.set(alert.alert_id, alert);
      state.pending.push(alert);
      if (!snapshot) state.unannounced += 1;
    }
    schedule();
  }
  function merge(a, b) {  // two lists, each newest first, into one
    const out = [];
    let i = 0, j = 0;
    while (i < a.length && j < b.length) out.push(a[i].t >= b[j].t ? a[i++] : b[j++]);
    return out.concat(a.slice(i), b.slice(j));
  }
  function schedule() { if (!state.frame) state.frame = requestAnimationFrame(flush); }
  function flush() {
    state.frame = 0;
    if (state.pending.length) {  // newest first by event time (partitions interleave arrivals)
      state.alerts = merge(state.pending.sort((a, b) => b.t - a.t), state.alerts);
      state.pending = [];
      for (const old of state.alerts.splice(MAX_KEPT)) {
        state.byId.delete(old.alert_id);
        state.rows.delete(old.alert_id);
      }
    }
    render();
    announceNew();
  }
  function announceNew() {  // at most one announcement every 4 s, however fast alerts come
    const wait = state.announced + 4000 - Date.now();
    if (!state.unannounced || state.announceTimer) return;
    if (wait > 0) { state.announceTimer = setTimeout(() => { state.announceTimer = 0; announceNew(); }, wait); return; }
    announce(`${state.unannounced} new alert${state.unannounced === 1 ? "" : "s"}`);
    state.unannounced = 0;
    state.announced = Date.now();
  }

  // --- the list ------------------------------------------------------------------------
  function filters() {
    const form = $("filters");
    return {
      severities: new Set([...form.querySelectorAll("input[name=severity]:checked")].map((i) => i.value)),
      outcome: $("outcome").value,
      status: $("status").value,
    };
  }
  function matches(alert, f) {
    if (!f.severities.has(alert.severity)) return false;
    if (f.outcome && alert.outcome !== f.outcome) return false;
    if (f.status === "open") return !alert.verdict;
    return !f.status || alert.verdict === f.status;
  }
  function renderCounts() {
    const open = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
    for (const a of state.alerts) if (!a.verdict) open[a.severity] += 1;
    $("counts").replaceChildren(...SEVERITIES.map((s) =>
      el("li", {}, el("span", { class: `dot sev-${s}`, "aria-hidden": "true" }), el("b", { text: String(open[s]) }), ` ${s}`)));
  }
  function row(alert) {  // a row is built once per alert and verdict, then moved, not rebuilt
    const cached = state.rows.get(alert.alert_id);
    if (cached && cached.verdict === alert.verdict) {
      cached.tr.setAttribute("aria-current", String(state.selected === alert.alert_id));
      return cached.tr;
    }
    const reason = mainReason(alert.reasons);
    const status = alert.verdict || "open";
    const label = `${alert.severity} alert, ${alert.outcome}, fraud score ${score(alert.fraud_score)}, ${time(alert.ts)}`;
    const tr = el("tr", {
      "data-id": alert.alert_id, "data-tx": alert.tx_id, "aria-current": String(state.selected === alert.alert_id),
      class: alert.fresh ? "fresh" : "",
    },
    el("td", {}, el("button", { type: "button", class: "open", "aria-label": `Open ${label}`, text: time(alert.ts) })),
    el("td", {}, el("span", { class: `badge sev-${alert.severity}`, text: alert.severity })),
    el("td", {}, el("span", { class: "score" }, bar(alert.fraud_score), score(alert.fraud_score))),
    el("td", {}, el("span", { class: `outcome ${alert.outcome}`, text: alert.outcome })),
    el("td", { class: "reason-cell", title: reason ? reason.detail : "" }, reason ? reason.detail || reason.code : "–"),
    el("td", { class: "ref mono", title: alert.customer_ref, text: shortRef(alert.customer_ref) }),
    el("td", {}, el("span", { class: `status status-${status}`, text: STATUS_TEXT[status] })));
    if (alert.fresh) setTimeout(() => tr.classList.remove("fresh"), 3000);  // "just arrived"
    alert.fresh = false;
    state.rows.set(alert.alert_id, { tr, verdict: alert.verdict });
    return tr;
  }
  function render() {
    const f = filters();
    const focusedId = document.activeElement && document.activeElement.closest("tr[data-id]")?.dataset.id;
    const visible = [];
    let total = 0;
    for (const alert of state.alerts) {
      if (!matches(alert, f)) continue;
      total += 1;
      if (visible.length < state.shown) visible.push(alert);
    }
    $("rows").replaceChildren(...visible.map(row));
    const current = visible.some((a) => a.alert_id === state.selected) ? state.selected : visible[0]?.alert_id;
    for (const button of $("rows").querySelectorAll(".open")) {  // one row in the tab order
      button.tabIndex = button.closest("tr").dataset.id === current ? 0 : -1;
    }
    $("empty").hidden = total > 0;
    $("empty").textContent = state.alerts.length ? "No alert matches these filters." : "Waiting for alerts…";
    $("more").hidden = total <= visible.length;
    $("more").textContent = `Show ${Math.min(PAGE, total - visible.length)} more`;
    $("shown").textContent = `Showing ${visible.length} of ${total} matching · ${state.alerts.length} kept`;
    renderCounts();
    if (focusedId) document.querySelector(`tr[data-id="${focusedId}"] .open`)?.focus();
    if (state.selected) renderVerdict(state.byId.get(state.selected));
  }
  $("filters").addEventListener("change", () => { state.shown = PAGE; render(); });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("more").addEventListener("click", () => { state.shown += PAGE; render(); });
  $("rows").addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-id]");
    if (tr) open(tr.dataset.id);
  });

  // --- the detail ----------------------------------------------------------------------
  async function open(alertId) {
    const alert = state.byId.get(alertId);
    if (!alert) return;
    state.selected = alertId;
    for (const tr of $("rows").querySelectorAll("tr[aria-current=true]")) tr.setAttribute("aria-current", "false");
    document.querySelector(`tr[data-id="${alertId}"]`)?.setAttribute("aria-current", "true");
    drawDetail(alert);
    schedule();  // the open alert's row becomes the one in the tab order
    const result = await call(`/console/api/customers/${encodeURIComponent(alert.customer_ref)}/activity`);
    if (state.selected === alertId) $("activity").replaceChildren(activityView(alert, result.ok ? result.data : undefined));
  }
  function drawDetail(alert) {
    const reasons = el("ul", { class: "reasons" }, ...(alert.reasons || []).map((r) =>
      el("li", {}, el("span", { class: "code", text: r.code }), el("span", { text: r.detail }))));
    const features = el("dl", { class: "kv" }, ...Object.entries(alert.features || {}).flatMap(([k, v]) =>
      [el("dt", { title: k, text: FEATURE_NAMES[k] || k }), el("dd", { text: num(v) })]));
    const body = $("detail-body");
    body.replaceChildren(
      el("div", { class: "d-head" },
        el("h2", { id: "detail-heading", text: `Alert at ${time(alert.ts)}` }),
        el("span", { class: `badge sev-${alert.severity}`, text: alert.severity }),
        el("span", { class: `outcome ${alert.outcome}`, text: alert.outcome })),
      el("dl", { class: "d-meta" },
        el("dt", { text: "Transaction" }), el("dd", { class: "mono", text: alert.tx_id }),
        el("dt", { text: "Customer" }), el("dd", { class: "mono", text: alert.customer_ref })),
      el("div", { class: "big-score" }, el("strong", { text: Number(alert.fraud_score).toFixed(3) }), bar(alert.fraud_score),
        el("span", { class: "muted", text: "fraud score" })),
      el("div", { class: "actions", id: "actions" }),
      el("h3", { text: "Why" }), reasons,
      el("h3", { text: "Explaining features" }), features,
      el("h3", { text: "Customer's recent activity" }), el("div", { id: "activity" }, activityView(alert, null)));
    $("detail-empty").hidden = true;
    body.hidden = false;
    $("detail").setAttribute("aria-labelledby", "detail-heading");
    renderVerdict(alert);
  }
  function activityView(alert, activity) {
    if (activity === null) return el("p", { class: "muted", text: "Loading…" });
    if (!activity) return el("p", { class: "error", text: "The activity could not be loaded." });
    if (!activity.known) return el("p", { class: "muted", text: "No recent decisions of this customer seen by the console." });
    const p = activity.profile || {};
    const profile = el("div", { class: "profile" },
      el("span", { text: `${num(p.cust_count_1d, 0)} tx today` }),
      el("span", { text: `${num(p.cust_count_30d, 0)} tx in 30 d` }),
      el("span", { text: `usual amount ${num(p.cust_amount_mean_30d)}` }),
      el("span", { text: `${num(p.cust_distinct_countries_30d, 0)} ${p.cust_distinct_countries_30d === 1 ? "country" : "countries"} in 30 d` }));
    const rows = activity.decisions.map((d) => el("tr", { class: d.tx_id === alert.tx_id ? "this" : "" },
      el("td", { text: time(d.ts) }), el("td", { text: num(d.amount) }),
      el("td", {}, el("span", { class: `outcome ${d.outcome}`, text: d.outcome })),
      el("td", { text: score(d.fraud_score) }),
      el("td", {}, ...[d.night && "night", d.foreign && "abroad", d.new_device && "new device"]
        .filter(Boolean).map((t) => el("span", { class: "flag", text: t })))));
    return el("div", {}, profile, el("table", { class: "activity" },
      el("thead", {}, el("tr", {}, ...["Time", "Amount", "Outcome", "Score", ""].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows)));
  }
  function renderVerdict(alert) {  // the buttons are built with the detail, updated in place
    const box = $("actions");
    if (!alert || !box) return;
    if (!box.firstChild) {
      const button = (verdict, text) => {
        const b = el("button", { type: "button", class: verdict === "fraud" ? "fraud" : "legit", id: `mark-${verdict}`, text });
        b.addEventListener("click", () => { const a = state.byId.get(state.selected); if (a) mark(a, verdict); });
        return b;
      };
      box.append(button("fraud", "Fraud"), button("legitimate", "Legitimate"),
        el("span", { class: "said", id: "said", role: "status" }));
    }
    $("mark-fraud").setAttribute("aria-pressed", String(alert.verdict === "fraud"));
    $("mark-legitimate").setAttribute("aria-pressed", String(alert.verdict === "legitimate"));
    const said = alert.verdict ? `Marked ${alert.verdict}: label sent, the models learn from it.` : "";
    if ($("said").textContent !== said) $("said").textContent = said;  // a live region: said once
  }
  async function mark(alert, verdict) {
    const result = await call("/console/api/labels", { alert_id: alert.alert_id, verdict });
    if (result.status === 401) return showLogin("Your session has ended: sign in again.");
    if (!result.ok) { $("said").textContent = `Not sent: ${result.data.message || result.status}`; return; }
    alert.verdict = verdict;
    schedule();
  }

  // --- keyboard ------------------------------------------------------------------------
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || $("app").hidden) return;
    if (event.target.closest("input, select, textarea")) return;
    const buttons = [...$("rows").querySelectorAll(".open")];
    const at = buttons.indexOf(document.activeElement);
    const move = { j: 1, ArrowDown: 1, k: -1, ArrowUp: -1 }[event.key];
    if (move && buttons.length) {
      event.preventDefault();
      const next = buttons[Math.max(0, Math.min(buttons.length - 1, at < 0 ? 0 : at + move))];
      next.focus();
      open(next.closest("tr").dataset.id);
    } else if ((event.key === "f" || event.key === "l") && state.selected) {
      const alert = state.byId.get(state.selected);
      if (alert) mark(alert, event.key === "f" ? "fraud" : "legitimate");
    }
  });

  start();
})();
