// Draws the last 24 hours of glucose with uPlot, and refreshes every minute.
(function () {
  "use strict";
  const el = document.getElementById("glucose-chart");
  if (!el) return;
  const LOW = 70, HIGH = 180;  // consensus target range, mg/dL (Battelino 2019)
  let plot = null;

  function bandPlugin() {
    return { hooks: { drawClear: (u) => {
      const ctx = u.ctx, top = u.valToPos(HIGH, "y", true), bottom = u.valToPos(LOW, "y", true);
      ctx.save(); ctx.fillStyle = "rgba(76, 175, 80, 0.15)";
      ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top); ctx.restore();
    } } };
  }

  async function load() {
    const res = await fetch(`/api/patients/${encodeURIComponent(el.dataset.patient)}/readings?metric=glucose`);
    if (!res.ok) { el.textContent = "Could not load glucose readings."; return; }
    const body = await res.json();
    const xs = body.readings.map((r) => Date.parse(r.time) / 1000);
    const ys = body.readings.map((r) => r.value);
    const data = [xs, ys];
    if (plot) { plot.setData(data); return; }
    plot = new uPlot({
      width: el.clientWidth || 600, height: 320, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), el.dataset.timezone),
      scales: { y: { range: [40, 400] } },
      series: [{}, { label: "Glucose (mg/dL)", stroke: "#0b5394", width: 2, points: { show: false } }],
      axes: [{}, { label: "mg/dL" }],
      plugins: [bandPlugin()],
    }, data, el);
    window.addEventListener("resize", () => plot.setSize({ width: el.clientWidth, height: 320 }));
  }
  load();
  setInterval(load, 60000);
})();
