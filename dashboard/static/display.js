// The home display (dashboard/views/display.py, docs/DASHBOARD.md "Home display").
// The page holds no personal data: the state comes from /display/state and the live
// /display/stream, and the last state is kept on this device so that it still shows the
// last values, and their age, when the network is away.
"use strict";
(function () {
  const KEY = "hearth-display-state";
  const VOICE = "hearth-display-voice";
  const root = document.getElementById("display");
  const words = document.getElementById("words").dataset;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let csrf = root.dataset.csrf;
  let source = null;
  let offlineSince = null;
  let retryMs = 2000;
  const spoken = new Set();
  const HOURS_FROM_MINUTES = 2 * 60;  // an age of two hours or more is said in hours

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, k) => String(values[k]));
  }

  function ago(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
    if (minutes < 1) return words.justNow;
    if (minutes < HOURS_FROM_MINUTES) return fill(words.agoMin, { n: minutes });
    return fill(words.agoH, { n: Math.round(minutes / 60) });
  }

  function clock(date) {
    const lang = (state && state.lang) || document.documentElement.lang || undefined;
    return date.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  }

  function render() {
    if (!state) return;
    $("pairing").hidden = true;
    $("screen").hidden = false;
    document.documentElement.lang = state.lang;
    document.documentElement.dir = state.dir;
    const stale = state.reading && !state.reading.fresh;
    $("state-word").textContent = state.word;
    $("state-word").dataset.tone = state.tone;
    document.body.dataset.tone = state.tone;
    if (state.reading) {
      $("reading-value").textContent = state.reading.value;
      $("reading-units").textContent = state.reading.units;
      $("reading-age").textContent = fill(words.measured, { age: ago(state.reading.at) });
      $("reading-age").dataset.stale = stale ? "true" : "false";
    } else {
      $("reading-value").textContent = words.noReading;
      $("reading-units").textContent = "";
      $("reading-age").textContent = "";
    }
    const open = state.alerts.filter((a) => !a.snoozed);
    const alert = open[0] || state.alerts[0];
    $("alert").hidden = !alert;
    if (alert) {
      $("alert").dataset.alertId = alert.id;
      $("alert-title").textContent = alert.title;
      $("alert-advice").textContent = alert.advice;
    }
    $("message").hidden = !state.message || Boolean(alert);
    if (state.message) {
      $("message-title").textContent = state.message.title;
      $("message-body").textContent = state.message.body;
    }
    $("connection").textContent = offlineSince ? fill(words.offline, { time: clock(offlineSince) }) : words.live;
    $("connection").dataset.live = offlineSince ? "false" : "true";
    speak(alert);
  }

  function speak(alert) {
    if (!$("voice").checked || !("speechSynthesis" in window) || !state) return;
    const key = alert ? "alert:" + alert.id : "word:" + state.word;
    if (spoken.has(key)) return;
    spoken.add(key);
    const text = alert ? [state.word, alert.title, alert.advice].join(". ") : state.word;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = state.lang;
    window.speechSynthesis.speak(utterance);
  }

  function keep(next) {
    state = next;
    try { localStorage.setItem(KEY, JSON.stringify(next)); } catch (e) { /* full: show it anyway */ }
    render();
  }

  function offline() {
    if (!offlineSince) offlineSince = new Date();
    render();
  }

  function unpaired() {
    state = null;
    try { localStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
    if (source) { source.close(); source = null; }
    $("screen").hidden = true;
    $("pairing").hidden = false;
  }

  async function load() {
    let response;
    try {
      response = await fetch("/display/state", { credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      offline();
      setTimeout(load, retryMs);
      retryMs = Math.min(retryMs * 2, 60000);
      return;
    }
    if (response.status === 401) { unpaired(); return; }
    if (!response.ok) { offline(); setTimeout(load, retryMs); return; }
    const body = await response.json();
    csrf = body.csrf || csrf;
    delete body.csrf;
    retryMs = 2000;
    offlineSince = null;
    keep(body);
    listen();
  }

  function listen() {
    if (source) source.close();
    source = new EventSource("/display/stream");
    source.addEventListener("state", (event) => { offlineSince = null; keep(JSON.parse(event.data)); });
    source.addEventListener("ready", () => {
      offlineSince = null;
      root.dataset.live = "true";
      render();
    });
    source.onerror = () => {
      root.dataset.live = "false";
      source.close();
      source = null;
      offline();
      setTimeout(load, retryMs);  // the state again (a new pairing may be needed), then the stream
      retryMs = Math.min(retryMs * 2, 60000);
    };
  }

  async function acknowledge() {
    const id = $("alert").dataset.alertId;
    if (!id) return;
    const response = await fetch("/display/alerts/" + encodeURIComponent(id) + "/ok", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf },
    });
    if (response.status === 401) { unpaired(); return; }
    if (response.ok) {
      $("alert-advice").textContent = words.acknowledged;
      $("alert").dataset.acknowledged = "true";
      load();
    }
  }

  $("alert-ok").addEventListener("click", acknowledge);
  $("voice").checked = localStorage.getItem(VOICE) === "on";
  $("voice").addEventListener("change", () => {
    localStorage.setItem(VOICE, $("voice").checked ? "on" : "off");
    spoken.clear();
    render();
  });
  setInterval(render, 15000);  // the age keeps counting, online or not
  window.addEventListener("online", load);
  window.addEventListener("offline", offline);

  try {
    const kept = localStorage.getItem(KEY);
    if (kept) { state = JSON.parse(kept); offlineSince = new Date(); render(); }
  } catch (e) { /* nothing kept */ }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/display/sw.js", { scope: "/display/" })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { root.dataset.offlineReady = "true"; })
      .catch(() => { /* works online without it */ });
  }
  load();
})();
