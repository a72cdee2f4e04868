// The console's pages: each fetches the JSON API and draws with Charts (charts.js). Text goes in as text, never as HTML.
"use strict";
(function () {
  const app = document.getElementById("app");
  const page = document.body.dataset.page;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const params = new URLSearchParams(location.search);
  const fmt = Charts.fmt;
  let tierOrder = [];
  let freeTiers = new Set();

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "on") for (const [event, fn] of Object.entries(v)) node.addEventListener(event, fn);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function api(path, options) {
    const opts = Object.assign({credentials: "same-origin", headers: {}}, options || {});
    if (opts.method && opts.method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, opts);
    if (response.status === 401) {
      location.assign("/console/login");
      throw new Error("signed out");
    }
    const body = await response.json();
    if (!response.ok) {
      const message = (body.error && body.error.message) || JSON.stringify(body);
      const error = new Error(message);
      error.body = body;
      throw error;
    }
    return body;
  }

  const money = (v) => (v === null || v === undefined ? "–" : fmt(v, "$"));
  const usd6 = (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(6));
  const pct = (v) => (v === null || v === undefined ? "–" : v.toFixed(1) + "%");
  const color = (tier) => Charts.PALETTE[(tierOrder.indexOf(tier) >= 0 ? tierOrder.indexOf(tier) : tierOrder.length + tier.length) % Charts.PALETTE.length];
  const tierName = (tier) => (freeTiers.has(tier) ? `${tier} (free)` : tier);

  function query(extra) {
    const q = new URLSearchParams();
    for (const name of ["since", "until", "against", "bucket", "team", "tenant", "key"]) if (params.get(name)) q.set(name, params.get(name));
    for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined && v !== "") q.set(k, v); else q.delete(k);
    return q.toString();
  }

  function go(extra) {
    for (const [k, v] of Object.entries(extra)) if (v) params.set(k, v); else params.delete(k);
    location.assign(location.pathname + "?" + params.toString());
  }

  function select(name, options, current, label) {
    const box = el("select", {id: "ctl-" + name, "aria-label": label, on: {change: (e) => go({[name]: e.target.value})}},
      options.map(([value, text]) => el("option", {value: value, selected: value === current}, text)));
    return el("label", {class: "control"}, label + " ", box);
  }

  function periodControls(withAgainst) {
    const since = params.get("since") || "";
    const bar = el("div", {class: "controls"},
      select("since", [["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["90d", "last 90 days"], ["", "all time"]], since, "Period"),
      select("bucket", [["day", "per day"], ["hour", "per hour"]], params.get("bucket") || "day", "Trend"));
    if (withAgainst) {
      bar.appendChild(select("against", [["dearest", "every request on the dearest tier"], ...tierOrder.map((t) => [t, "every request on " + t])],
        params.get("against") || "dearest", "Savings against"));
    }
    for (const scope of ["team", "tenant", "key"]) {
      if (params.get(scope)) bar.appendChild(el("span", {class: "chip"}, `${scope}: ${params.get(scope)} `,
        el("button", {type: "button", "aria-label": "clear " + scope, on: {click: () => go({[scope]: ""})}}, "×")));
    }
    return bar;
  }

  function card(label, value, note, id) {
    return el("div", {class: "card", id: id}, el("div", {class: "card-label"}, label), el("div", {class: "card-value"}, value), note ? el("div", {class: "card-note"}, note) : null);
  }

  function table(headers, rows, opts) {
    const head = el("tr", {}, headers.map((h) => el("th", {scope: "col"}, h)));
    const body = rows.map((cells, i) => {
      const tr = el("tr", opts && opts.onRow ? {class: "clickable", tabindex: 0, on: {click: () => opts.onRow(i)}} : {}, cells.map((c) => el("td", {}, c)));
      return tr;
    });
    return el("table", {class: (opts && opts.cls) || ""}, el("thead", {}, head), el("tbody", {}, body.length ? body : el("tr", {}, el("td", {colspan: headers.length, class: "empty"}, "nothing in this period"))));
  }

  function section(title, ...children) {
    return el("section", {}, el("h2", {}, title), ...children);
  }

  function pivot(rows, field) {
    const labels = [...new Set(rows.map((r) => r.bucket))].sort();
    const tiers = [...new Set(rows.map((r) => r.tier))].sort((a, b) => (tierOrder.indexOf(a) - tierOrder.indexOf(b)));
    const series = tiers.map((tier) => {
      const values = labels.map((label) => {
        const row = rows.find((r) => r.bucket === label && r.tier === tier);
        return row ? row[field] : 0;
      });
      return {name: tierName(tier), values: values, color: color(tier)};
    });
    return {labels, series};
  }

  const shortBucket = (label) => (label.length > 10 ? label.slice(5, 13) + "h" : label.slice(5));

  // -- pages ----------------------------------------------------------------------------------

  async function overview() {
    const [data, trend, evals] = await Promise.all([api("/console/api/overview?" + query()), api("/console/api/trend?" + query()), api("/console/api/eval")]);
    const t = data.totals;
    const against = data.against === "dearest" ? `every request on the dearest tier (${data.dearest})` : `every request on ${data.against}`;
    const bucket = trend.bucket;
    const spend = pivot(trend.data, "spend_usd"), reqs = pivot(trend.data, "requests");
    const mixItems = (field, unit) => data.tiers.map((tier) => ({label: tierName(tier.tier), value: tier[field], color: color(tier.tier),
      note: tier.free && field === "spend_usd" ? "free tier" : (field === "requests" && t.requests ? pct((100 * tier.requests) / t.requests) : "")}));
    const gates = evals.data.filter((r) => r.gate);
    app.replaceChildren(
      periodControls(true),
      el("div", {class: "cards"},
        card("Spend", money(t.total_spend_usd), `${t.requests.toLocaleString()} answered requests ${money(t.spend_usd)}, ` +
          `switchyard learn's judge & labeling calls ${money(t.overheads.judge_usd + t.overheads.label_answers_usd)}`, "kpi-spend"),
        card("Requests", t.requests.toLocaleString(), `${t.failed_requests.toLocaleString()} failed (${money(t.failed_spend_usd)} billed)`, "kpi-requests"),
        card("Saved (gross)", money(t.gross_saved_usd), `${pct(t.gross_saved_pct)} of ${money(t.counterfactual_usd)}`, "kpi-gross"),
        card("Overheads", money(t.overheads.total_usd), `cascade first stages ${money(t.overheads.cascade_first_stages_usd)}, ` +
          `classifier & embedding compute ${money(t.overheads.compute_usd)}, judge calls ${money(t.overheads.judge_usd)}, ` +
          `labeling answers ${money(t.overheads.label_answers_usd)}`, "kpi-overheads"),
        card("Saved (net)", money(t.net_saved_usd), `${pct(t.net_saved_pct)} of ${money(t.counterfactual_usd)}`, "kpi-saved"),
        card("Cache hit rate", t.cache_hit_rate === null ? "–" : pct(100 * t.cache_hit_rate), `${t.cache_hits.toLocaleString()} hits saved ${money(t.cache_saved_usd)}`, "kpi-cache"),
        card("Routing saved", money(t.routing_saved_usd), "the rest, after cascade stages", "kpi-routing")),
      el("p", {class: "explain"}, `Gross saving = what these requests would have cost on ${against}, minus what their answers cost. ` +
        "Net = gross less the overheads: the cascade's earlier stages (spend in each ledger row) and the gateway's classifier and embedding time, " +
        "priced per CPU-hour (policy accounting.compute_usd_per_cpu_hour), and what switchyard learn spent in the period labeling traffic outside the gateway " +
        "(its judge's verdicts and the tiers' answers; counted in the spend too, and only without a team, tenant or key filter: it belongs to none).",
        " ", el("a", {href: "/console/api/export.csv?" + query(), id: "export-csv", download: true}, "Export CSV")),
      el("div", {class: "grid2"},
        section(`Spend per ${bucket}, by tier`, Charts.stacked({title: `Spend per ${bucket} (USD)`, labels: spend.labels, series: spend.series, unit: "$", yLabel: "spend, $", xLabel: bucket + " (UTC)", shortLabel: shortBucket})),
        section(`Requests per ${bucket}, by tier`, Charts.stacked({title: `Requests per ${bucket}`, labels: reqs.labels, series: reqs.series, unit: "", yLabel: "requests", xLabel: bucket + " (UTC)", shortLabel: shortBucket}))),
      el("div", {class: "grid2"},
        section("Tier mix by requests", Charts.hbars({title: "Requests per tier", width: 640, items: mixItems("requests"), unit: "", xLabel: "requests"})),
        section("Tier mix by spend", Charts.hbars({title: "Spend per tier (USD)", width: 640, items: mixItems("spend_usd"), unit: "$", xLabel: "spend, $"}))),
      section("Quality signals",
        el("p", {}, data.quality.feedback ? `${data.quality.feedback} feedback verdicts, mean score ${data.quality.mean_score.toFixed(2)} (1 = good).` : "No feedback in this period (POST /v1/feedback)."),
        table(["tier", "feedback", "mean score"], data.quality.per_tier.map((q) => [tierName(q.tier), q.feedback, q.mean_score.toFixed(2)])),
        el("p", {}, gates.length ? `Latest eval gate: ${gates[0].gate} (${gates[0].name}, ${gates[0].modified}).` : "No eval report with a quality gate yet (see Eval).")));
  }

  async function teams() {
    const by = params.get("by") || "team";
    const pageNo = Number(params.get("page") || 0);
    const [data, budgets] = await Promise.all([api("/console/api/groups?" + query({by: by, page: pageNo})), api("/console/api/budgets")]);
    const pages = Math.max(1, Math.ceil(data.total / data.per_page));
    const rows = data.data.map((r) => [r.group, r.requests.toLocaleString(), usd6(r.spend_usd), usd6(r.saved_usd), r.cache_hits.toLocaleString(),
      (r.prompt_tokens + r.completion_tokens).toLocaleString()]);
    const budgetCards = budgets.data.map((b) => {
      const start = b.window_start ? new Date(b.window_start) : new Date(Date.now() - 30 * 86400e3);
      const end = b.window_end ? new Date(b.window_end) : new Date(Date.now() + 7 * 86400e3);
      const days = (end - start) / 86400e3;
      // A total budget's chart shows its last 30 days: start the line at what was spent before them.
      const base = b.window_start ? 0 : Math.max(0, b.spent_usd - b.daily.reduce((sum, d) => sum + d.spend_usd, 0));
      let cumulative = base;
      const points = b.daily.map((d) => {
        cumulative += d.spend_usd;
        return {day: (new Date(d.day + "T23:59:59Z") - start) / 86400e3, value: cumulative};
      });
      const now = (Date.now() - start) / 86400e3;
      // The forecast runs from now at the recent rate, to the run-out point or the chart's end, whichever comes first.
      const outDay = b.runs_out_at ? (new Date(b.runs_out_at) - start) / 86400e3 : Infinity;
      const forecastDay = b.rate_usd_per_day > 0 || b.runs_out_at ? Math.min(outDay, days) : null;
      const forecastValue = forecastDay === null ? 0 : Math.min(b.limit_usd, b.spent_usd + b.rate_usd_per_day * Math.max(forecastDay - now, 0));
      const who = b.scope === "team" && b.tenant ? `team ${b.scope_id} of ${b.tenant}` : `${b.scope} ${b.scope_id}`;
      return el("div", {class: "budget"},
        Charts.burn({title: `${who} · ${b.period} budget`, limit: b.limit_usd, base: base,
          points: [{day: now, value: b.spent_usd}, ...points.map((p) => ({day: Math.min(Math.max(p.day, 0), now), value: p.value}))].sort((x, y) => x.day - y.day),
          days: days, forecastDay: forecastDay, forecastValue: forecastValue, startLabel: start.toISOString().slice(0, 10), endLabel: end.toISOString().slice(0, 10)}),
        el("p", {class: "forecast-text"}, `${money(b.spent_usd)} of ${money(b.limit_usd)} spent (${money(b.reserved_usd)} held); ` +
          `${money(b.rate_usd_per_day)}/day; ` + (b.forecast === "spent" ? "spent: requests are refused" + (b.hard ? "" : " (soft: logged only)") :
            b.runs_out_at ? `runs out ${b.runs_out_at.replace("T", " ")} UTC (${b.forecast})` : b.forecast)));
    });
    app.replaceChildren(
      periodControls(false),
      el("div", {class: "controls"}, select("by", [["team", "teams"], ["tenant", "tenants"], ["key", "keys"]], by, "Group by")),
      section(`Spend by ${by}`, Charts.hbars({title: `Spend per ${by}, this page (USD)`, width: 1200, unit: "$", xLabel: "spend, $",
        items: data.data.slice(0, 15).map((r, i) => ({label: r.group.length > 22 ? r.group.slice(0, 21) + "…" : r.group, value: r.spend_usd, color: Charts.PALETTE[i % 10]}))}),
        table([by, "requests", "spend", "saved vs dearest", "cache hits", "tokens"], rows,
        {onRow: (i) => location.assign("/console/requests?" + query({[by]: data.data[i].group}))}),
        el("div", {class: "pager"}, el("button", {type: "button", disabled: pageNo <= 0, on: {click: () => go({page: String(pageNo - 1)})}}, "← Previous"),
          ` page ${pageNo + 1} of ${pages} (${data.total} ${by}s) `,
          el("button", {type: "button", disabled: pageNo + 1 >= pages, on: {click: () => go({page: String(pageNo + 1)})}}, "Next →")),
        el("p", {class: "explain"}, "Click a row to see its requests.")),
      section("Budgets: burn-down and forecast", budgetCards.length ? el("div", {class: "grid2"}, budgetCards) : el("p", {}, "No budgets set (Keys & budgets).")));
  }

  async function requestsPage() {
    const filters = {tier: params.get("tier"), status: params.get("status"), before: params.get("before")};
    const data = await api("/console/api/requests?" + query(filters));
    const detail = el("div", {id: "detail"});
    const rows = data.data.map((r) => [r.created_at.replace("T", " ").slice(0, 19), r.tenant, r.team, r.tier || "–", r.status, r.cache,
      `${r.prompt_tokens}+${r.completion_tokens}`, usd6(r.cost_usd), r.latency_ms === null ? "–" : r.latency_ms.toFixed(0) + " ms",
      r.route_score === null ? "–" : r.route_score.toFixed(3), r.reason || "–"]);
    const filterBar = el("form", {class: "controls", on: {submit: (e) => {
      e.preventDefault();
      const form = new FormData(e.target);
      go({tenant: form.get("tenant"), team: form.get("team"), key: form.get("key"), tier: form.get("tier"), status: form.get("status"), before: ""});
    }}},
    ...["tenant", "team", "key", "tier", "status"].map((name) => el("label", {class: "control"}, name + " ", el("input", {name: name, value: params.get(name) || "", size: 10}))),
    el("button", {type: "submit"}, "Filter"));
    app.replaceChildren(periodControls(false), filterBar,
      section("Requests, newest first", table(["time (UTC)", "tenant", "team", "tier", "status", "cache", "tokens", "cost", "latency", "score", "reason"], rows,
        {cls: "requests", onRow: (i) => showRequest(data.data[i].request_id, detail)}),
      el("div", {class: "pager"}, params.get("before") ? el("button", {type: "button", on: {click: () => go({before: ""})}}, "⇤ Newest") : null,
        data.next ? el("button", {type: "button", id: "older", on: {click: () => go({before: data.next})}}, "Older →") : null)),
      detail);
  }

  async function showRequest(id, box) {
    const r = await api("/console/api/requests/" + encodeURIComponent(id));
    const d = r.decision || {};
    const predicted = d.predicted ? Object.entries(d.predicted).map(([tier, q]) => [tierName(tier), typeof q === "number" ? q.toFixed(3) : String(q)]) : [];
    box.replaceChildren(section("Request " + r.request_id,
      table(["field", "value"], [
        ["when", r.created_at], ["tenant / team / key", `${r.tenant} / ${r.team} / ${r.key_id || "–"}`], ["door", r.door],
        ["asked for", r.requested_model || "–"], ["answered by", `${r.tier || "–"} (${r.model || "–"})`],
        ["decision", `${d.tier || "–"}: ${d.reason || "–"}`], ["classifier", d.classifier || "–"],
        ["route score / threshold", `${r.route_score === null ? "–" : r.route_score.toFixed(4)} / ${d.threshold === undefined || d.threshold === null ? "–" : d.threshold}`],
        ["fallback from", r.fallback_from || "–"], ["cascade", d.cascade ? JSON.stringify(d.cascade) : "–"],
        ["tokens", `${r.prompt_tokens} prompt + ${r.completion_tokens} completion`], ["cost", usd6(r.cost_usd)], ["saved vs dearest", usd6(r.saved_usd)],
        ["latency", r.latency_ms === null ? "–" : `${r.latency_ms.toFixed(1)} ms (gateway overhead ${r.overhead_ms === null ? "–" : r.overhead_ms.toFixed(2) + " ms"})`],
        ["cache", r.cache], ["status", `${r.status} (${r.http_status})${r.error ? ": " + r.error : ""}`],
        ["feedback", r.feedback ? `${r.feedback.score}${r.feedback.comment ? " – " + r.feedback.comment : ""}` : "–"]]),
      predicted.length ? table(["tier", "predicted quality"], predicted) : null,
      el("h3", {}, "Prompt and answer"),
      r.messages ? el("pre", {class: "prompt"}, JSON.stringify(r.messages, null, 2) + "\n\n→ " + (r.response || "")) :
        el("p", {}, "Not stored: the policy's store_prompts is off (the ledger keeps prompts only where the policy says so).")));
    box.scrollIntoView();
  }

  async function routing() {
    const [data, trend] = await Promise.all([api("/console/api/routing?" + query()), api("/console/api/trend?" + query())]);
    const reqs = pivot(trend.data, "requests");
    const binLabels = data.scores.bins.slice(0, -1).map((b) => b.toFixed(2));
    const rank = (tier) => (tierOrder.indexOf(tier) >= 0 ? tierOrder.indexOf(tier) : tierOrder.length);
    const scoreSeries = Object.entries(data.scores.series).sort((a, b) => rank(a[0]) - rank(b[0])).map(([tier, values]) => ({name: tierName(tier), values: values, color: color(tier)}));
    const editor = el("textarea", {id: "policy-text", rows: 18, spellcheck: "false", "aria-label": "policy YAML"}, data.text);
    const result = el("div", {id: "lint-result", role: "status"});
    const confirmBox = el("div", {id: "confirm"});
    const showIssues = (issues) => el("ul", {class: "issues"}, issues.map((i) => el("li", {}, i.text || i.message)));
    async function lint() {
      const out = await api("/console/api/policy/lint", {method: "POST", json: {text: editor.value}});
      result.replaceChildren(out.ok ? el("p", {class: "ok"}, `OK: policy '${out.policy}', ${out.tiers.length} tiers (${out.tiers.map((t) => t.tier + (t.enabled ? "" : " disabled")).join(", ")})`) :
        el("div", {class: "bad"}, el("p", {}, `${out.issues.length} problem(s):`), showIssues(out.issues)),
        el("ul", {class: "warnings"}, (out.warnings || []).map((w) => el("li", {}, w))));
      return out;
    }
    async function apply() {
      const out = await lint();
      if (!out.ok) return;
      confirmBox.replaceChildren(el("p", {}, `Reload the gateway with policy '${out.policy}'? Requests in flight finish under the current one.`),
        el("button", {type: "button", id: "confirm-reload", class: "danger", on: {click: async () => {
          confirmBox.replaceChildren();
          try {
            const done = await api("/console/api/policy/apply", {method: "POST", json: {text: editor.value}});
            result.replaceChildren(el("p", {class: "ok"}, `Reloaded: '${done.policy}' (added ${done.added.join(", ") || "none"}, removed ${done.removed.join(", ") || "none"}, changed ${done.changed.join(", ") || "none"})`));
          } catch (err) {
            result.replaceChildren(el("div", {class: "bad"}, el("p", {}, err.message), err.body && err.body.issues ? showIssues(err.body.issues) : null));
          }
        }}}, "Reload"),
        el("button", {type: "button", on: {click: () => confirmBox.replaceChildren()}}, "Cancel"));
    }
    app.replaceChildren(periodControls(false),
      section(`Live policy '${data.policy}'`, el("p", {}, `from ${data.source}; classifier ${data.classifier}`),
        table(["tier", "engine", "model", "$ in / out per Mtok", "threshold", "state", "breaker", "falls back to"], data.tiers.map((t) => [
          tierName(t.tier), t.engine, t.model, `${t.input_per_mtok} / ${t.output_per_mtok}`, t.threshold === null || t.threshold === undefined ? "–" : t.threshold,
          t.enabled ? "enabled" : "disabled: " + t.why, t.breaker, (data.fallback_order[t.tier] || []).join(", ") || "–"]))),
      el("div", {class: "grid2"},
        section("Decisions per tier over time", Charts.stacked({title: `Requests per ${trend.bucket}, by tier`, labels: reqs.labels, series: reqs.series, unit: "", yLabel: "requests", xLabel: trend.bucket + " (UTC)", shortLabel: shortBucket})),
        section("Route-score distribution", Charts.stacked({title: "Routed requests by route score", labels: binLabels, series: scoreSeries, unit: "", yLabel: "requests", xLabel: "route score (higher = harder), bins of 0.05"}))),
      section("Fallbacks", table(["chosen tier", "answered by", "requests"], data.fallbacks.map((f) => [f.from, f.to, f.requests]))),
      section("Edit the policy", el("p", {class: "explain"}, data.editable ? "Lint runs the checks of `switchyard policy lint`; Reload writes the policy file and reloads it (a refused policy leaves the running one and the file as they were)." :
        "The gateway serves the bundled policy: lint works here; to reload from the console, start the gateway with --policy FILE."),
        editor, el("div", {class: "buttons"}, el("button", {type: "button", id: "lint", on: {click: lint}}, "Lint"),
          el("button", {type: "button", id: "apply", disabled: !data.editable, on: {click: apply}}, "Reload with this policy…")), confirmBox, result));
  }

  async function keys() {
    const [list, budgets] = await Promise.all([api("/console/api/keys?include_revoked=" + (params.get("revoked") === "1")), api("/console/api/budgets")]);
    const shown = el("div", {id: "new-key"});
    const message = el("div", {id: "key-message", role: "status"});
    const reveal = (title, out) => shown.replaceChildren(el("div", {class: "secret"}, el("p", {}, `${title}: copy it now, it is not shown again.`),
      el("code", {id: "secret-key"}, out.key), el("p", {}, `key id ${out.key_id}, tenant ${out.tenant}, team ${out.team}`)));
    const fail = (err) => message.replaceChildren(el("p", {class: "bad"}, err.message));
    const form = (fields, submit, label, id) => el("form", {class: "form", id: id, on: {submit: async (e) => {
      e.preventDefault();
      try {
        await submit(new FormData(e.target));
      } catch (err) {
        fail(err);
      }
    }}}, fields.map(([name, text, extra]) => el("label", {}, text, extra || el("input", {name: name}))), el("button", {type: "submit"}, label));
    const opt = (value) => (value === "" || value === null ? undefined : value);
    const periods = () => el("select", {name: "period"}, ["monthly", "weekly", "daily", "total"].map((p) => el("option", {value: p}, p)));
    const keyRows = list.data.map((k) => [k.key_id, k.prefix + "…", k.tenant, k.team, k.name || "–", k.rpm || "–", k.tpm || "–", (k.created_at || "").slice(0, 19),
      k.revoked_at ? "revoked " + k.revoked_at.slice(0, 19) : el("span", {class: "buttons"},
        el("button", {type: "button", class: "rotate", on: {click: async () => { try { reveal("New key for " + k.key_id, await api(`/console/api/keys/${k.key_id}/rotate`, {method: "POST"})); } catch (err) { fail(err); } }}}, "Rotate"),
        el("button", {type: "button", class: "danger revoke", on: {click: (e) => {
          const cell = e.target.parentNode;
          cell.replaceChildren(el("span", {}, "Revoke? "), el("button", {type: "button", class: "danger confirm-revoke", on: {click: async () => {
            try { await api(`/console/api/keys/${k.key_id}`, {method: "DELETE"}); location.reload(); } catch (err) { fail(err); }
          }}}, "Yes, revoke"), el("button", {type: "button", on: {click: () => location.reload()}}, "No"));
        }}}, "Revoke"))]);
    const budgetRows = budgets.data.map((b) => [b.scope, b.scope_id, b.tenant || "–", b.period, money(b.limit_usd), money(b.spent_usd), b.hard ? "hard" : "soft",
      el("button", {type: "button", class: "danger", on: {click: async () => { try { await api(`/console/api/budgets/${b.budget_id}`, {method: "DELETE"}); location.reload(); } catch (err) { fail(err); } }}}, "Remove")]);
    app.replaceChildren(message,
      section("Create a key", form([["tenant", "tenant"], ["team", "team"], ["name", "name (optional)"], ["budget_usd", "budget $ (optional)"],
        ["period", "budget period", periods()], ["rpm", "requests/min (optional)"], ["tpm", "tokens/min (optional)"]], async (f) => {
        const body = {tenant: f.get("tenant"), team: f.get("team"), name: opt(f.get("name")), budget_usd: opt(f.get("budget_usd")), period: f.get("period"),
          rpm: opt(f.get("rpm")) && Number(f.get("rpm")), tpm: opt(f.get("tpm")) && Number(f.get("tpm"))};
        reveal("New key", await api("/console/api/keys", {method: "POST", json: body}));
      }, "Create key", "create-key"), shown),
      section("Keys", el("p", {}, el("a", {href: "?revoked=" + (params.get("revoked") === "1" ? "0" : "1")}, params.get("revoked") === "1" ? "hide revoked keys" : "show revoked keys")),
        table(["key id", "prefix", "tenant", "team", "name", "rpm", "tpm", "created (UTC)", ""], keyRows, {cls: "keys"})),
      section("Set a budget", form([["scope", "scope", el("select", {name: "scope"}, ["team", "tenant", "key"].map((s) => el("option", {value: s}, s)))],
        ["scope_id", "team / tenant / key id"], ["tenant", "tenant (for a team budget)"], ["period", "period", periods()], ["usd", "limit $"],
        ["hard", "enforce", el("select", {name: "hard"}, el("option", {value: "true"}, "hard: refuse requests"), el("option", {value: "false"}, "soft: log only"))]], async (f) => {
        const body = {scope: f.get("scope"), scope_id: f.get("scope_id"), tenant: f.get("scope") === "team" ? opt(f.get("tenant")) : undefined,
          period: f.get("period"), usd: f.get("usd"), hard: f.get("hard") === "true"};
        const out = await api("/console/api/budgets", {method: "PUT", json: body});
        message.replaceChildren(el("p", {class: "ok", id: "budget-set"}, "Set: " + out.description));
        setTimeout(() => location.reload(), 800);
      }, "Set budget", "set-budget")),
      section("Budgets", table(["scope", "id", "tenant", "period", "limit", "spent this period", "kind", ""], budgetRows)));
  }

  async function evalPage() {
    const data = await api("/console/api/eval");
    const frame = el("div", {id: "report-frame"});
    app.replaceChildren(section("Eval reports", el("p", {class: "explain"}, `HTML reports in ${data.folder} (write one with \`switchyard eval run ... --html ${data.folder}/NAME.html\`; set SWITCHYARD_EVAL_REPORTS_DIR to look elsewhere).`),
      table(["report", "quality gate", "modified (UTC)", "size"], data.data.map((r) => [r.name, r.gate || "–", r.modified.replace("T", " "), `${Math.ceil(r.bytes / 1024)} KiB`]),
        {onRow: (i) => frame.replaceChildren(el("iframe", {src: "/console/eval/report/" + encodeURIComponent(data.data[i].name), title: data.data[i].name, sandbox: ""}))})),
    frame);
  }

  const PAGES = {overview: overview, teams: teams, requests: requestsPage, routing: routing, keys: keys, eval: evalPage};

  document.getElementById("signout").addEventListener("click", async () => {
    await fetch("/console/logout", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf}});
    location.assign("/console/login");
  });

  api("/console/api/session").then((info) => {
    tierOrder = info.tiers.map((t) => t.tier);
    freeTiers = new Set(info.tiers.filter((t) => t.free).map((t) => t.tier));
    return PAGES[page]();
  }).then(() => document.body.setAttribute("data-ready", "1")).catch((err) => {
    if (err.message === "signed out") return;
    app.replaceChildren(el("p", {class: "bad", role: "alert"}, "Could not load: " + err.message));
    document.body.setAttribute("data-ready", "error");
  });
})();
