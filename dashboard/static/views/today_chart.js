// Today at a glance: the chart under the current value, with the vendored uPlot (no CDN).
// Everything comes embedded in the page (#glance-data, from dashboard/views/glance.py):
// the target band and target lines are analytics/targets.py's numbers, never written here.
// A CGM is a line broken at gaps, a meter's finger-sticks are points; meals (carbs) and
// insulin are marked along the bottom and top. Times and dates in the viewer's locale
// (Intl with the locale the server negotiated with Babel), in the patient's time zone.
(function () {
  "use strict";
  const holder = document.getElementById("glance-data");
  const el = document.getElementById("glance-chart");
  if (!holder || !el || typeof uPlot === "undefined") return;
  const data = JSON.parse(holder.textContent);
  const glucose = data.kind === "glucose";
  const timeFmt = new Intl.DateTimeFormat(data.locale, { hour: "numeric", minute: "2-digit", timeZone: data.timezone });
  const dayFmt = new Intl.DateTimeFormat(data.locale, { day: "numeric", month: "short", timeZone: data.timezone });
  const fmt = glucose ? timeFmt : dayFmt;
  const xAxis = glucose
    ? { space: 60, incrs: [1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600], values: (u, vals) => vals.map((v) => timeFmt.format(new Date(v * 1e3))) }
    : { space: 60, incrs: [86400, 2 * 86400], values: (u, vals) => vals.map((v) => dayFmt.format(new Date(v * 1e3))) };

  // the x values of every series, joined (uPlot wants one x array)
  const parts = [];
  const series = [{}];
  if (data.line) {
    parts.push([data.line.times, data.line.values]);
    series.push({ label: "Sensor glucose", stroke: "#0b2e63", width: 2, spanGaps: false, points: { show: false } });
  }
  const dots = (label, colour) => ({ label: label, stroke: colour, width: 0, paths: () => null, points: { show: true, size: 8, fill: colour, stroke: colour } });
  if (data.points) {
    parts.push([data.points.times, data.points.values]);
    series.push(dots(glucose ? "Finger-stick" : data.label, glucose ? "#0b2e63" : "#5b2a86"));
  }
  if (data.points2) {
    parts.push([data.points2.times, data.points2.values]);
    series.push(dots("Diastolic", "#0b4f8a"));
  }
  if (!parts.length) return;
  const rows = parts.length === 1 ? parts[0] : uPlot.join(parts);

  function shadeBand(u) {  // the target range, behind the data
    if (!data.band) return;
    const c = u.ctx, top = u.valToPos(data.band[1], "y", true), bottom = u.valToPos(data.band[0], "y", true);
    c.save(); c.fillStyle = "rgba(47, 158, 68, 0.16)";
    c.fillRect(u.bbox.left, top, u.bbox.width, bottom - top); c.restore();
  }
  function targetLines(u) {
    const c = u.ctx;
    c.save(); c.lineWidth = 2 * devicePixelRatio; c.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    for (const line of data.lines) {
      const y = Math.round(u.valToPos(line.value, "y", true));
      c.strokeStyle = line.colour; c.beginPath(); c.moveTo(u.bbox.left, y); c.lineTo(u.bbox.left + u.bbox.width, y); c.stroke();
    }
    c.restore();
  }
  function markers(u) {  // meals along the bottom, insulin along the top
    const c = u.ctx, px = devicePixelRatio, min = u.scales.x.min, max = u.scales.x.max;
    c.save(); c.font = (12 * px) + "px sans-serif"; c.textAlign = "center";
    for (const m of data.markers) {
      if (m.t < min || m.t > max) continue;
      const x = u.valToPos(m.t, "x", true), carbs = m.kind === "carbs";
      const y = carbs ? u.bbox.top + u.bbox.height - 4 * px : u.bbox.top + 4 * px;
      const s = 6 * px;
      c.fillStyle = carbs ? "#8a4b00" : "#0b4f8a";
      c.beginPath();
      if (carbs) { c.moveTo(x, y - s); c.lineTo(x - s, y); c.lineTo(x + s, y); }
      else { c.moveTo(x, y + s); c.lineTo(x - s, y); c.lineTo(x + s, y); }
      c.fill();
      c.fillText(m.text, x, carbs ? y - s - 3 * px : y + s + 12 * px);
    }
    c.restore();
  }

  function width() { return Math.max(280, el.clientWidth || 600); }
  function height() { return window.innerWidth < 600 ? 220 : 280; }
  const windowS = (h) => [data.now - h * 3600, data.now];
  const [x0, x1] = windowS(data.window);
  let view = [x0, x1];
  const plot = new uPlot({
    width: width(), height: height(),
    legend: { show: false },  // no idle "Time: --": the key is under the chart, in words
    cursor: { show: false },
    scales: { x: { time: true, range: () => [view[0], view[1]] }, y: { range: data.y_range } },
    axes: [xAxis, { label: data.y_label, size: 56 }],
    series: series,
    hooks: { drawClear: [shadeBand], draw: [targetLines, markers] },
  }, rows, el);
  plot.setScale("x", { min: x0, max: x1 });
  el.dataset.drawn = "true";
  el.dataset.hours = String(data.window);
  el.dataset.from = fmt.format(new Date(x0 * 1e3));

  document.querySelectorAll("#glance .windows button[data-hours]").forEach((b) => {
    b.addEventListener("click", () => {
      const h = Number(b.dataset.hours);
      view = windowS(h);
      plot.setScale("x", { min: view[0], max: view[1] });
      el.dataset.hours = String(h);
      el.dataset.from = fmt.format(new Date(view[0] * 1e3));
      document.querySelectorAll("#glance .windows button").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
    });
  });
  window.addEventListener("resize", () => plot.setSize({ width: width(), height: height() }));

  // A new glucose reading (live.js): onto the chart, the window slides to it, and the change
  // since the reading before is written again (a CGM's only when that one is within the gap
  // the server breaks the line at: data.gap_s).
  const change = document.getElementById("glucose-change");
  window.addEventListener("hearth:glucose", (e) => {
    const d = e.detail || {};
    const t = Date.parse(d.time || "") / 1000, v = parseFloat(d.value);
    if (!glucose || isNaN(t) || isNaN(v)) return;
    const target = data.line || data.points;
    if (!target || target.times.length && t <= target.times[target.times.length - 1]) return;
    const before = target.values.length ? target.values[target.values.length - 1] : null;
    const beforeT = target.times.length ? target.times[target.times.length - 1] : null;
    if (data.line && beforeT != null && t - beforeT > data.gap_s) { target.times.push(beforeT + 1); target.values.push(null); }
    target.times.push(t); target.values.push(v);
    data.now = Math.max(data.now, t);
    const h = Number(el.dataset.hours || data.window);
    view = windowS(h);
    plot.setData(parts.length === 1 ? parts[0] : uPlot.join(parts), false);
    plot.setScale("x", { min: view[0], max: view[1] });
    el.dataset.from = fmt.format(new Date(view[0] * 1e3));
    el.dataset.latest = String(v);
    if (change) {
      const near = before != null && (!data.line || t - beforeT <= data.gap_s);
      const delta = near ? v - before : null;
      const mmol = data.units === "mmol/L";
      change.textContent = delta == null ? "" : (delta > 0 ? "+" : delta < 0 ? "\u2212" : "\u00b1")
        + Math.abs(delta).toFixed(mmol ? 1 : 0) + " " + data.units;
    }
  });
  window.hearthGlance = plot;
})();
