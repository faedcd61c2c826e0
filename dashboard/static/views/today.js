// Today's current glucose (dashboard/views/patient.py): the reading's age ticks every few
// seconds and turns to a stale warning, then an urgent one (the minutes are on the page:
// Nightscout's 15 and 30, docs/CLINICAL.md), and the value is coloured by its consensus
// range (the thresholds are on the page too, from analytics/cgm.py; never written here).
(function () {
  "use strict";
  const age = document.getElementById("glucose-age");
  const now = document.getElementById("glucose-now");
  const value = document.getElementById("glucose-value");
  const label = document.getElementById("glucose-range");
  // words in the viewer's language (words.js, from the page's #page-words)
  const W = window.hearthWords;
  const LABELS = { very_low: "Very low", low: "Low", in_range: "In range", high: "High", very_high: "Very high" };
  const TICK_MS = 5000;
  let offset = 0; // the server's clock minus this browser's: ages are the server's

  function sync(serverNow) {
    const t = Date.parse(serverNow || "");
    if (!isNaN(t)) offset = t - Date.now();
  }


  function tick() {
    if (!age || !age.dataset.measured) return;
    const measured = Date.parse(age.dataset.measured);
    if (isNaN(measured)) return;
    const minutes = Math.max(0, Math.floor((Date.now() + offset - measured) / 60000));
    const warn = Number(age.dataset.warnMin), urgent = Number(age.dataset.urgentMin);
    const state = minutes >= urgent ? "urgent" : minutes >= warn ? "warn" : "fresh";
    let text = W.say("measured", { age: W.ago(minutes) }, "measured {age}");
    if (state === "urgent") text += " – " + W.say("not_current_urgent", { minutes: urgent }, "not current: no reading for over {minutes} min");
    else if (state === "warn") text += " – " + W.say("not_current", {}, "not current");
    if (age.textContent !== text) age.textContent = text;
    age.className = (state === "fresh" ? "fresh" : "stale") + " age-" + state;
    age.dataset.state = state;
  }

  function colour() {
    if (!now || !value) return;
    const mg = parseFloat(value.dataset.mgdl);
    if (isNaN(mg)) return;
    const d = now.dataset; // the consensus thresholds in mg/dL
    const band = mg < Number(d.veryLow) ? "very_low" : mg < Number(d.low) ? "low"
      : mg <= Number(d.high) ? "in_range" : mg <= Number(d.veryHigh) ? "high" : "very_high";
    now.className = now.className.replace(/\brange-\w+/g, "").trim() + " range-" + band;
    now.dataset.range = band;
    if (label) label.textContent = W.say(band, {}, LABELS[band]);
  }

  if (age) sync(age.dataset.now);
  colour();
  tick();
  setInterval(tick, TICK_MS);
  window.addEventListener("hearth:glucose", (e) => { // a new reading, from live.js
    const d = e.detail || {};
    sync(d.now);
    if (age && d.time) age.dataset.measured = d.time;
    colour();
    tick();
  });
})();
