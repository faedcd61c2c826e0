// Trends charts with the vendored uPlot (no CDN). Data come embedded in the page (#trends-data).
(function () {
  "use strict";
  const holder = document.getElementById("trends-data");
  if (!holder || typeof uPlot === "undefined") return;
  const data = JSON.parse(holder.textContent);
  const mmol = data.units === "mmol/L";
  const [LOW, HIGH] = data.glucose_range;  // consensus target range (analytics/targets.py)
  const YMAX = mmol ? 22 : 400;
  const charts = [];

  function width(el) { return Math.max(300, el.clientWidth || 600); }
  function band() {
    return { hooks: { drawClear: (u) => {
      const c = u.ctx, top = u.valToPos(HIGH, "y", true), bottom = u.valToPos(LOW, "y", true);
      c.save(); c.fillStyle = "rgba(47, 158, 68, 0.12)";
      c.fillRect(u.bbox.left, top, u.bbox.width, bottom - top); c.restore();
    } } };
  }
  function hhmm(v) { const m = Math.round(v) % 1440; return String(Math.floor(m / 60)).padStart(2, "0") + ":" + String(m % 60).padStart(2, "0"); }
  const dayAxis = { values: (u, vals) => vals.map(hhmm), incrs: [60, 120, 180, 240, 360] };
  function make(id, opts, rows) {
    const el = document.getElementById(id);
    if (!el) return;
    opts.width = width(el); opts.height = opts.height || 280;
    const plot = new uPlot(opts, rows, el);
    charts.push([plot, el]);
  }

  const g = data.glucose;
  if (g) {
    const a = g.agp;
    make("agp-chart", {
      scales: { x: { time: false, range: [0, 1440] }, y: { range: [0, YMAX] } },
      axes: [dayAxis, { label: data.units }],
      series: [{ label: "Time of day", value: (u, v) => v == null ? "" : hhmm(v) },
        { label: "5th", stroke: "#7fa3cf", dash: [4, 4] },
        { label: "25th", stroke: "#1b4f9c" },
        { label: "Median", stroke: "#0b2e63", width: 3 },
        { label: "75th", stroke: "#1b4f9c" },
        { label: "95th", stroke: "#7fa3cf", dash: [4, 4] }],
      bands: [{ series: [5, 1], fill: "rgba(127,163,207,0.25)" }, { series: [4, 2], fill: "rgba(27,79,156,0.30)" }],
      plugins: [band()],
    }, [a.minute_of_day, a.p5, a.p25, a.p50, a.p75, a.p95]);

    const days = g.days;
    if (days.length) {
      const aligned = uPlot.join(days.map((d) => [d.minute_of_day, d.values]));
      const palette = ["#0b4f8a", "#a01818", "#1e6b30", "#8a4b00", "#5b2a86", "#00626b", "#6b4e00"];
      make("daily-chart", {
        scales: { x: { time: false, range: [0, 1440] }, y: { range: [0, YMAX] } },
        axes: [dayAxis, { label: data.units }],
        series: [{ label: "Time of day", value: (u, v) => v == null ? "" : hhmm(v) }].concat(days.map((d, i) => ({
          label: d.date, stroke: palette[i % palette.length], width: 1.5, spanGaps: false, points: { show: false } }))),
        plugins: [band()],
      }, aligned);
    }
  }
  if (data.systolic.values.length) {
    make("bp-chart", {
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), data.timezone),
      scales: { y: { range: [40, 220] } }, axes: [{}, { label: "mmHg" }],
      series: [{}, { label: "Systolic", stroke: "#a01818", points: { show: true, size: 6 } },
        { label: "Diastolic", stroke: "#0b4f8a", points: { show: true, size: 6 } }],
    }, uPlot.join([[data.systolic.times, data.systolic.values], [data.diastolic.times, data.diastolic.values]]));
  }
  if (data.weight.values.length) {
    make("weight-chart", {
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), data.timezone),
      axes: [{}, { label: "kg" }],
      series: [{}, { label: "Weight (kg)", stroke: "#5b2a86", points: { show: true, size: 6 } }],
    }, [data.weight.times, data.weight.values]);
  }
  if (data.steps.length) {
    const xs = data.steps.map((d) => Date.parse(d.date + "T12:00:00Z") / 1000);
    make("steps-chart", {
      axes: [{}, { label: "steps" }],
      series: [{}, { label: "Steps", stroke: "#1e6b30", fill: "rgba(30,107,48,0.35)",
        paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } },
        { label: "Goal", stroke: "#111", dash: [6, 4], points: { show: false } }],
    }, [xs, data.steps.map((d) => d.steps), xs.map(() => data.step_goal)]);
  }
  window.addEventListener("resize", () => charts.forEach(([p, el]) => p.setSize({ width: width(el), height: p.height })));
  window.hearthCharts = charts;
})();
