// Inline SVG charts for the console: axes with units, a legend, a tooltip per mark. No library, no network.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2a9d8f", "#3d6cc9", "#e07b39", "#b5477a", "#7a5cc7", "#8c6d31", "#5b8c2a", "#c0392b", "#607d8b", "#d4a017"];

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(value, unit) {
    if (unit === "$") {
      if (value === 0) return "$0";
      const abs = Math.abs(value);
      return "$" + (abs >= 100 ? value.toFixed(0) : abs >= 1 ? value.toFixed(2) : abs >= 0.01 ? value.toFixed(3) : value.toPrecision(2));
    }
    if (unit === "%") return value.toFixed(0) + "%";
    if (Math.abs(value) >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (Math.abs(value) >= 1e4) return (value / 1e3).toFixed(0) + "k";
    return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function frame(title, width, height) {
    const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title, class: "chart"});
    root.appendChild(svg("text", {x: 8, y: 18, class: "chart-title"}, title));
    return root;
  }

  function legend(root, entries, x, y) {
    entries.forEach((entry, i) => {
      root.appendChild(svg("rect", {x: x, y: y + i * 18, width: 12, height: 12, fill: entry.color, class: "legend-swatch"}));
      root.appendChild(svg("text", {x: x + 18, y: y + i * 18 + 10, class: "legend"}, entry.name));
    });
  }

  function yAxis(root, left, top, plotW, plotH, peak, unit, label) {
    for (let t = 0; t <= 4; t++) {
      const y = top + plotH - (plotH * t) / 4;
      root.appendChild(svg("line", {x1: left, x2: left + plotW, y1: y, y2: y, class: t ? "grid" : "axis"}));
      root.appendChild(svg("text", {x: left - 6, y: y + 4, class: "tick", "text-anchor": "end"}, fmt((peak * t) / 4, unit)));
    }
    root.appendChild(svg("line", {x1: left, x2: left, y1: top, y2: top + plotH, class: "axis"}));
    root.appendChild(svg("text", {x: 14, y: top + plotH / 2, class: "axis-label", transform: `rotate(-90 14 ${top + plotH / 2})`,
      "text-anchor": "middle"}, label));
  }

  // Stacked vertical bars: labels along x, one series per colour.
  function stacked(opts) {
    const width = opts.width || 760, height = opts.height || 280;
    const left = 70, right = 170, top = 34, bottom = 46;
    const plotW = width - left - right, plotH = height - top - bottom;
    const root = frame(opts.title, width, height);
    const labels = opts.labels;
    const totals = labels.map((_, i) => opts.series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const peak = niceMax(Math.max(0, ...totals));
    yAxis(root, left, top, plotW, plotH, peak, opts.unit, opts.yLabel);
    const step = plotW / Math.max(labels.length, 1);
    const every = Math.max(1, Math.ceil(labels.length / 12));
    labels.forEach((label, i) => {
      let base = top + plotH;
      opts.series.forEach((s) => {
        const value = s.values[i] || 0;
        const h = (plotH * value) / peak;
        if (h <= 0) return;
        base -= h;
        const bar = svg("rect", {x: left + i * step + step * 0.12, y: base, width: Math.max(step * 0.76, 1), height: h, fill: s.color, class: "bar"});
        bar.appendChild(svg("title", {}, `${s.name} · ${label}: ${fmt(value, opts.unit)}`));
        root.appendChild(bar);
      });
      if (i % every === 0) {
        root.appendChild(svg("text", {x: left + (i + 0.5) * step, y: top + plotH + 15, class: "tick", "text-anchor": "middle"},
          opts.shortLabel ? opts.shortLabel(label) : label));
      }
    });
    if (!labels.length) root.appendChild(svg("text", {x: left + plotW / 2, y: top + plotH / 2, class: "empty", "text-anchor": "middle"}, "no data in this period"));
    root.appendChild(svg("text", {x: left + plotW / 2, y: height - 8, class: "axis-label", "text-anchor": "middle"}, opts.xLabel));
    legend(root, opts.series, left + plotW + 16, top);
    return root;
  }

  // Horizontal bars, one per item, every item shown (a $0 tier keeps its row and its label).
  function hbars(opts) {
    const rowH = 26, width = opts.width || 480, left = 150, right = 120, top = 34;
    const height = top + rowH * Math.max(opts.items.length, 1) + 30;
    const plotW = width - left - right;
    const root = frame(opts.title, width, height);
    const peak = niceMax(Math.max(0, ...opts.items.map((it) => it.value)));
    opts.items.forEach((item, i) => {
      const y = top + i * rowH;
      root.appendChild(svg("text", {x: left - 8, y: y + 16, class: "tick", "text-anchor": "end"}, item.label));
      const w = (plotW * item.value) / peak;
      const bar = svg("rect", {x: left, y: y + 4, width: Math.max(w, item.value > 0 ? 1 : 0), height: rowH - 8, fill: item.color, class: "bar"});
      bar.appendChild(svg("title", {}, `${item.label}: ${fmt(item.value, opts.unit)}${item.note ? " (" + item.note + ")" : ""}`));
      root.appendChild(bar);
      if (item.value === 0) root.appendChild(svg("line", {x1: left, x2: left, y1: y + 4, y2: y + rowH - 4, stroke: item.color, "stroke-width": 3}));
      root.appendChild(svg("text", {x: left + w + 6, y: y + 16, class: "value"}, fmt(item.value, opts.unit) + (item.note ? "  " + item.note : "")));
    });
    const axisY = top + rowH * Math.max(opts.items.length, 1);
    root.appendChild(svg("line", {x1: left, x2: left + plotW, y1: axisY, y2: axisY, class: "axis"}));
    root.appendChild(svg("text", {x: left, y: axisY + 14, class: "tick"}, fmt(0, opts.unit)));
    root.appendChild(svg("text", {x: left + plotW, y: axisY + 14, class: "tick", "text-anchor": "end"}, fmt(peak, opts.unit)));
    root.appendChild(svg("text", {x: left + plotW / 2, y: axisY + 26, class: "axis-label", "text-anchor": "middle"}, opts.xLabel));
    return root;
  }

  // A budget's burn-down: cumulative spend per day against its limit, and the forecast to run-out.
  function burn(opts) {
    const width = opts.width || 520, height = opts.height || 220;
    const left = 70, right = 20, top = 34, bottom = 40;
    const plotW = width - left - right, plotH = height - top - bottom;
    const root = frame(opts.title, width, height);
    const peak = niceMax(Math.max(opts.limit, ...opts.points.map((p) => p.value), opts.forecastValue || 0));
    yAxis(root, left, top, plotW, plotH, peak, "$", "spent, $");
    const span = Math.max(opts.days, 1);
    const x = (d) => left + (plotW * d) / span;
    const y = (v) => top + plotH - (plotH * v) / peak;
    const limit = svg("line", {x1: left, x2: left + plotW, y1: y(opts.limit), y2: y(opts.limit), class: "limit"});
    limit.appendChild(svg("title", {}, `limit ${fmt(opts.limit, "$")}`));
    root.appendChild(limit);
    root.appendChild(svg("text", {x: left + plotW - 4, y: y(opts.limit) - 4, class: "tick", "text-anchor": "end"}, `limit ${fmt(opts.limit, "$")}`));
    if (opts.points.length) {
      const path = opts.points.map((p) => `${x(p.day).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
      root.appendChild(svg("polyline", {points: `${x(0)},${y(opts.base || 0)} ${path}`, class: "spent"}));
      const last = opts.points[opts.points.length - 1];
      if (opts.forecastDay !== null && opts.forecastDay !== undefined) {
        root.appendChild(svg("line", {x1: x(last.day), y1: y(last.value), x2: x(Math.min(opts.forecastDay, span)),
          y2: y(opts.forecastValue), class: "forecast"}));
      }
    }
    root.appendChild(svg("text", {x: left, y: height - 8, class: "tick"}, opts.startLabel));
    root.appendChild(svg("text", {x: left + plotW, y: height - 8, class: "tick", "text-anchor": "end"}, opts.endLabel));
    legend(root, [{name: "spent", color: "#3d6cc9"}, {name: "forecast", color: "#e07b39"}], left + 8, top + 4);
    return root;
  }

  window.Charts = {stacked, hbars, burn, fmt, PALETTE};
})();
