// Live updates over server-sent events (dashboard/live.py): new readings change the page in place.
(function () {
  "use strict";
  const root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  const status = document.getElementById("live-status");
  const source = new EventSource(root.dataset.live);
  const CARD = { systolic: "blood_pressure", diastolic: "blood_pressure", weight: "weight", spo2: "spo2" };
  let bp = {};
  const W = window.hearthWords;  // words.js: the viewer's language
  function agoOf(iso) { return W.ago(Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 60000))); }

  source.addEventListener("ready", () => { root.dataset.liveReady = "1"; });

  function flash(el) { if (!el) return; el.classList.remove("live-new"); void el.offsetWidth; el.classList.add("live-new"); }
  function say(text) { if (status) status.textContent = text; }

  source.addEventListener("glucose", (e) => {
    const d = JSON.parse(e.data);
    const value = document.getElementById("glucose-value");
    if (!value) return;
    value.textContent = d.value; value.dataset.mgdl = Math.round(d.mg_dl);
    const arrow = document.getElementById("glucose-arrow"); if (arrow) arrow.textContent = d.arrow;
    const trend = document.getElementById("glucose-trend");
    if (trend) trend.textContent = d.arrow_label.charAt(0).toUpperCase() + d.arrow_label.slice(1);
    const age = document.getElementById("glucose-age");
    if (age) { age.textContent = W.say("measured", { age: agoOf(d.time) }, "measured {age}"); age.className = d.fresh ? "fresh" : "stale"; }
    flash(document.getElementById("glucose-card"));
    window.dispatchEvent(new CustomEvent("hearth:glucose", { detail: d })); // today.js: age, range
    say(W.say("new_glucose", { value: d.value + " " + d.units + ", " + d.arrow_label }, "New glucose reading: {value}"));
  });
  source.addEventListener("reading", (e) => {
    const d = JSON.parse(e.data);
    const key = CARD[d.metric];
    if (!key) return;
    const card = document.querySelector(`[data-card="${key}"]`);
    if (!card) return;
    const span = card.querySelector(".value span");
    if (key === "blood_pressure") {
      bp[d.metric] = d.shown;
      const parts = (span.textContent || "/").split("/");
      span.textContent = (bp.systolic || parts[0]) + "/" + (bp.diastolic || parts[1]);
    } else {
      span.textContent = d.shown;
    }
    const when = card.querySelector(".muted");
    if (when) when.textContent = d.time ? agoOf(d.time) : d.age;
    flash(card);
  });
  source.addEventListener("alerts", () => {
    const list = document.querySelector("[data-alerts-fragment]");
    if (!list) return;
    fetch(list.dataset.alertsFragment, { headers: { "Accept": "text/html" } })
      .then((r) => r.ok ? r.text() : Promise.reject(r.status))
      .then((html) => { list.innerHTML = html; flash(list); say(W.say("alerts_changed", {}, "The alert list has changed.")); })
      .catch(() => {});
  });
})();
