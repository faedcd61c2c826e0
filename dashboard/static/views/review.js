// The nurse's review page: one chart per condition, with the vendored uPlot (no CDN).
// Data and every target line come embedded in the page (#review-data, from
// dashboard/views/figures.py review_charts; the numbers from analytics/targets.py).
(function () {
  "use strict";
  const holder = document.getElementById("review-data");
  if (!holder || typeof uPlot === "undefined") return;
  const data = JSON.parse(holder.textContent);
  const charts = [];
  const range = data.glucose_range;

  function width(el) { return Math.max(300, el.clientWidth || 600); }
  function shade(lo, hi) {  // the glucose target range, behind the data
    return { hooks: { drawClear: (u) => {
      const c = u.ctx, top = u.valToPos(hi, "y", true), bottom = u.valToPos(lo, "y", true);
      c.save(); c.fillStyle = "rgba(47, 158, 68, 0.12)";
      c.fillRect(u.bbox.left, top, u.bbox.width, bottom - top); c.restore();
    } } };
  }
  function hhmm(v) { const m = Math.round(v) % 1440; return String(Math.floor(m / 60)).padStart(2, "0") + ":" + String(m % 60).padStart(2, "0"); }
  const dayAxis = { values: (u, vals) => vals.map(hhmm), incrs: [60, 120, 180, 240, 360] };
  // dates as "12 Mar" in the patient's time zone (never the US "3/12/26"), one tick a day or more
  const dayFmt = new Intl.DateTimeFormat(document.documentElement.lang || "en-GB",
    { day: "numeric", month: "short", timeZone: data.timezone });
  const dateAxis = { space: 50, incrs: [86400, 2 * 86400, 7 * 86400],
    values: (u, vals) => vals.map((v) => dayFmt.format(new Date(v * 1e3))) };
  const dots = (stroke) => ({ stroke: stroke, width: 0, paths: () => null, points: { show: true, size: 7, fill: stroke } });
  const line = (label, stroke) => ({ label: label, stroke: stroke, dash: [6, 4], width: 1.5, points: { show: false } });
  const flat = (xs, v) => xs.map(() => v);
  function make(id, opts, rows) {
    const el = document.getElementById(id);
    if (!el) return;
    opts.width = width(el); opts.height = opts.height || 260;
    opts.legend = { show: false };
    charts.push([new uPlot(opts, rows, el), el]);
  }

  const g = data.glucose;
  if (g) {
    const a = g.agp;
    make("agp-chart", {
      scales: { x: { time: false, range: [0, 1440] }, y: { range: [0, Math.max(range[1] * 2.2, ...a.p95.filter((v) => v != null))] } },
      axes: [dayAxis, { label: data.units }],
      series: [{}, { stroke: "#7fa3cf", dash: [4, 4] }, { stroke: "#1b4f9c" },
        { stroke: "#0b2e63", width: 3 }, { stroke: "#1b4f9c" }, { stroke: "#7fa3cf", dash: [4, 4] }],
      bands: [{ series: [5, 1], fill: "rgba(127,163,207,0.25)" }, { series: [4, 2], fill: "rgba(27,79,156,0.30)" }],
      plugins: [shade(range[0], range[1])],
    }, [a.minute_of_day, a.p5, a.p25, a.p50, a.p75, a.p95]);
  }
  const m = data.meter;
  if (m) {
    make("meter-chart", {
      scales: { y: { range: [0, Math.max(range[1] * 2, ...m.values.filter((v) => v != null))] } },
      axes: [dateAxis, { label: data.units }],
      series: [{}, Object.assign({ label: "Meter" }, dots("#0b2e63"))],
      plugins: [shade(range[0], range[1])],
    }, [m.times, m.values]);
  }
  if (data.systolic.values.length) {
    const xs = data.systolic.times;
    make("bp-chart", {
      scales: { y: { range: [40, 220] } }, axes: [dateAxis, { label: "mmHg" }],
      series: [{}, Object.assign({ label: "Systolic" }, dots("#a01818")),
        Object.assign({ label: "Diastolic" }, dots("#0b4f8a")),
        line("Systolic target", "#a01818"), line("Diastolic target", "#0b4f8a")],
    }, [xs, data.systolic.values, data.diastolic.times.length === xs.length ? data.diastolic.values : flat(xs, null),
      flat(xs, data.bp_target[0]), flat(xs, data.bp_target[1])]);
  }
  if (data.weight.values.length) {
    const xs = data.weight.times, vs = data.weight.values;
    const series = [{}, Object.assign({ label: "Weight" }, dots("#5b2a86"))], rows = [xs, vs];
    const all = vs.slice();
    if (data.weight_alert_kg != null) { series.push(line("Warning above", "#a01818")); rows.push(flat(xs, data.weight_alert_kg)); all.push(data.weight_alert_kg); }
    if (data.weight_target_kg != null) { series.push(line("Target", "#1e6b30")); rows.push(flat(xs, data.weight_target_kg)); all.push(data.weight_target_kg); }
    make("weight-chart", {
      scales: { y: { range: [Math.min(...all) - 1, Math.max(...all) + 1] } },
      axes: [dateAxis, { label: data.weight_units || "kg" }], series: series,
    }, rows);
  }
  if (data.spo2.values.length) {
    const xs = data.spo2.times;
    make("spo2-chart", {
      scales: { y: { range: [Math.min(data.spo2_urgent, ...data.spo2.values) - 3, 100] } }, axes: [dateAxis, { label: "%" }],
      series: [{}, Object.assign({ label: "SpO2" }, dots("#00626b")), line("Target", "#1e6b30"), line("Urgent", "#a01818")],
    }, [xs, data.spo2.values, flat(xs, data.spo2_target), flat(xs, data.spo2_urgent)]);
  }
  if (data.steps.length) {
    const xs = data.steps.map((d) => Date.parse(d.date + "T12:00:00Z") / 1000);
    make("steps-chart", {
      scales: { y: { range: [0, Math.max(data.step_goal, ...data.steps.map((d) => d.steps)) * 1.1] } },
      axes: [dateAxis, { label: "steps" }],
      series: [{}, { label: "Steps", stroke: "#1e6b30", fill: "rgba(30,107,48,0.35)",
        paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } }, line("Goal", "#111")],
    }, [xs, data.steps.map((d) => d.steps), flat(xs, data.step_goal)]);
  }
  window.addEventListener("resize", () => charts.forEach(([p, el]) => p.setSize({ width: width(el), height: p.height })));
  window.hearthReviewCharts = charts;
})();
