// Trends charts with the vendored uPlot (no CDN). Data come embedded in the page: #trends-data
// (dashboard/views/figures.py) and #trends-extras (dashboard/views/glance.py: every vital's
// target lines, SpO2, the locale of the axes, the day picker's names). Charts to glance at:
// no idle legend (each chart's key is in words under it), counts from 0, a target line on
// every vital, dates and times in the viewer's locale (never the US "12/6/26").
(function () {
  "use strict";
  const holder = document.getElementById("trends-data");
  if (!holder || typeof uPlot === "undefined") return;
  const data = JSON.parse(holder.textContent);
  const extrasEl = document.getElementById("trends-extras");
  const extras = extrasEl ? JSON.parse(extrasEl.textContent) : { bp_lines: [], weight_lines: [], spo2: { times: [], values: [] }, spo2_lines: [] };
  const locale = extras.locale || document.documentElement.lang || "en-GB";
  const mmol = data.units === "mmol/L";
  const [LOW, HIGH] = data.glucose_range;  // consensus target range (analytics/targets.py)
  // 0-400 mg/dL (22 mmol/L) while every value fits; a higher one extends the scale to the
  // next step above it, up to 600 mg/dL, the highest home device's reporting limit: a high
  // is drawn where it was, never cut at the top (docs/CLINICAL.md "Glucose", issue 18)
  const YMAX = mmol ? 22 : 400, STEP = mmol ? 2 : 50, LIMIT = mmol ? 34 : 600;
  function glucoseTop(lists) {
    let hi = 0;
    for (const list of lists) for (const v of list) if (v != null && v > hi) hi = v;
    return hi <= YMAX ? YMAX : Math.min(Math.ceil(hi / STEP) * STEP, LIMIT);
  }
  const charts = [];

  function width(el) { return Math.max(280, el.clientWidth || 600); }
  function band() {
    return { hooks: { drawClear: (u) => {
      const c = u.ctx, top = u.valToPos(HIGH, "y", true), bottom = u.valToPos(LOW, "y", true);
      c.save(); c.fillStyle = "rgba(47, 158, 68, 0.12)";
      c.fillRect(u.bbox.left, top, u.bbox.width, bottom - top); c.restore();
    } } };
  }
  function targetLines(lines) {  // dashed horizontal lines, drawn over the data
    return { hooks: { draw: (u) => {
      const c = u.ctx, px = devicePixelRatio;
      c.save(); c.lineWidth = 2 * px; c.setLineDash([6 * px, 4 * px]);
      for (const l of lines) {
        const y = Math.round(u.valToPos(l.value, "y", true));
        c.strokeStyle = l.colour; c.beginPath(); c.moveTo(u.bbox.left, y); c.lineTo(u.bbox.left + u.bbox.width, y); c.stroke();
      }
      c.restore();
    } } };
  }
  // the time of day in the viewer's locale (minutes since midnight; 24-hour clock in en-GB)
  const clock = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", timeZone: "UTC" });
  function hhmm(v) { return clock.format(new Date((Math.round(v) % 1440) * 60000)); }
  const dayAxis = { values: (u, vals) => vals.map(hhmm), incrs: [60, 120, 180, 240, 360] };
  // dates as "6 Dec" (en-GB) or "Dec 6" (en-US) in the patient's time zone, a tick a day or more
  const dayFmt = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: data.timezone });
  const dateAxis = { space: 50, incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400],
    values: (u, vals) => vals.map((v) => dayFmt.format(new Date(v * 1e3))) };
  const middayFmt = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" });
  const stepsAxis = Object.assign({}, dateAxis, { values: (u, vals) => vals.map((v) => middayFmt.format(new Date(v * 1e3))) });
  // every dated chart spans the whole period, so that one reading still has its date
  const period = [Date.parse(data.start) / 1000, Date.parse(data.end) / 1000];
  const xPeriod = { time: true, range: () => period };
  const dots = (stroke) => ({ stroke: stroke, width: 0, paths: () => null, points: { show: true, size: 7, fill: stroke } });
  function around(values, lines, pad) {
    const all = values.filter((v) => v != null).concat(lines.map((l) => l.value));
    return [Math.floor(Math.min(...all) - pad), Math.ceil(Math.max(...all) + pad)];
  }
  function make(id, opts, rows) {
    const el = document.getElementById(id);
    if (!el) return null;
    opts.width = width(el); opts.height = opts.height || 280;
    opts.legend = { show: false };  // no idle "Time: --"
    const plot = new uPlot(opts, rows, el);
    el.dataset.drawn = "true";
    charts.push([plot, el]);
    return plot;
  }

  const g = data.glucose;
  if (g) {
    const a = g.agp;
    const top = glucoseTop([a.p95].concat(g.days.map((d) => d.values)));
    make("agp-chart", {
      scales: { x: { time: false, range: [0, 1440] }, y: { range: [0, top] } },
      axes: [dayAxis, { label: data.units }],
      series: [{}, { stroke: "#7fa3cf", dash: [4, 4] }, { stroke: "#1b4f9c" },
        { stroke: "#0b2e63", width: 3 }, { stroke: "#1b4f9c" }, { stroke: "#7fa3cf", dash: [4, 4] }],
      bands: [{ series: [5, 1], fill: "rgba(127,163,207,0.25)" }, { series: [4, 2], fill: "rgba(27,79,156,0.30)" }],
      plugins: [band()],
    }, [a.minute_of_day, a.p5, a.p25, a.p50, a.p75, a.p95]);

    // one day at a time, picked by name, instead of 14 lines and a 14-item legend
    const picker = document.getElementById("day-picker");
    const byDate = Object.fromEntries(g.days.map((d) => [d.date, d]));
    const first = g.days.length ? g.days[g.days.length - 1] : null;
    if (first) {
      const rows = (d) => [d.minute_of_day, d.values];
      const daily = make("daily-chart", {
        scales: { x: { time: false, range: [0, 1440] }, y: { range: [0, top] } },
        axes: [dayAxis, { label: data.units }],
        series: [{}, { stroke: "#0b2e63", width: 2, spanGaps: false, points: { show: false } }],
        plugins: [band()],
      }, rows(first));
      const el = document.getElementById("daily-chart");
      if (el) el.dataset.day = first.date;
      if (picker && daily) picker.addEventListener("change", () => {
        const d = byDate[picker.value];
        if (!d) return;
        daily.setData(rows(d));
        el.dataset.day = d.date;
      });
    }
  }
  // finger-stick readings (a meter): points, by time of day and over the period; never an
  // AGP or a line between readings hours apart (issue 18)
  const m = data.meter;
  if (m && m.values.length) {
    const order = m.minute_of_day.map((v, i) => i).sort((i, j) => m.minute_of_day[i] - m.minute_of_day[j]);
    const mtop = glucoseTop([m.values]);
    make("meter-day-chart", {
      scales: { x: { time: false, range: [0, 1440] }, y: { range: [0, mtop] } },
      axes: [dayAxis, { label: data.units }],
      series: [{}, dots("#0b2e63")],
      plugins: [band()],
    }, [order.map((i) => m.minute_of_day[i]), order.map((i) => m.values[i])]);
    make("meter-chart", {
      scales: { x: xPeriod, y: { range: [0, mtop] } },
      axes: [dateAxis, { label: data.units }],
      series: [{}, dots("#0b2e63")],
      plugins: [band()],
    }, [m.times, m.values]);
  }
  if (data.systolic.values.length) {
    const lines = extras.bp_lines;
    make("bp-chart", {
      scales: { x: xPeriod, y: { range: around(data.systolic.values.concat(data.diastolic.values), lines, 10) } },
      axes: [dateAxis, { label: "mmHg" }],
      series: [{}, dots("#a01818"), dots("#0b4f8a")],
      plugins: [targetLines(lines)],
    }, uPlot.join([[data.systolic.times, data.systolic.values], [data.diastolic.times, data.diastolic.values]]));
  }
  if (data.weight.values.length) {
    const lines = extras.weight_lines;
    make("weight-chart", {
      scales: { x: xPeriod, y: { range: around(data.weight.values, lines, 1) } },
      axes: [dateAxis, { label: data.weight_units || "kg" }],
      series: [{}, dots("#5b2a86")],
      plugins: [targetLines(lines)],
    }, [data.weight.times, data.weight.values]);
  }
  if (extras.spo2.values.length) {
    const lines = extras.spo2_lines, r = around(extras.spo2.values, lines, 2);
    make("spo2-chart", {
      scales: { x: xPeriod, y: { range: [r[0], Math.min(100, r[1])] } },
      axes: [dateAxis, { label: "%" }],
      series: [{}, dots("#00626b")],
      plugins: [targetLines(lines)],
    }, [extras.spo2.times, extras.spo2.values]);
  }
  if (data.steps.length) {
    const xs = data.steps.map((d) => Date.parse(d.date + "T12:00:00Z") / 1000);
    const top = Math.max(data.step_goal, ...data.steps.map((d) => d.steps)) * 1.1;
    make("steps-chart", {
      scales: { x: { time: true, range: () => [period[0] - 43200, period[1] + 43200] }, y: { range: [0, top] } },  // a count: from 0
      axes: [stepsAxis, { label: window.hearthWords ? window.hearthWords.say("steps", {}, "steps") : "steps", size: 60 }],
      series: [{}, { stroke: "#1e6b30", fill: "rgba(30,107,48,0.35)",
        paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } }],
      plugins: [targetLines([{ value: data.step_goal, colour: "#111" }])],
    }, [xs, data.steps.map((d) => d.steps)]);
  }
  window.addEventListener("resize", () => charts.forEach(([p, el]) => p.setSize({ width: width(el), height: p.height })));
  window.hearthCharts = charts;
})();
