// Safety alerts on the patient's and caregiver's pages (dashboard/views/safety.py): shown
// live (server-sent events from /live/safety, then the list re-read from the server),
// acknowledged with OK without leaving the page, and, while one is open, an alarm made
// with the Web Audio API (no sound file) that repeats until someone presses OK. The
// volume is the patient's choice from the server (an urgent low: never silent).
(function () {
  "use strict";
  const root = document.getElementById("safety-alerts");
  if (!root) return;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  const unmute = document.getElementById("alarm-unmute");
  const status = document.getElementById("live-status");
  const GAIN = { normal: 0.8, quieter: 0.25, silent: 0 };
  const REPEAT_MS = 2500;
  const html = document.documentElement;
  const alarm = { ctx: null, timer: null, volume: "none", beeps: 0 };

  function say(text) { if (status) status.textContent = text; }
  function show(state) { html.dataset.alarm = state; html.dataset.alarmVolume = alarm.volume; }

  function audio() {
    if (alarm.ctx) return alarm.ctx;
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    alarm.ctx = new AC();
    alarm.ctx.addEventListener("statechange", update);
    return alarm.ctx;
  }

  function beep() { // three rising tones, as CGM apps' urgent alarms
    const ctx = alarm.ctx, gain = GAIN[alarm.volume] || 0;
    if (!ctx || ctx.state !== "running" || !gain) return;
    const t0 = ctx.currentTime;
    [880, 988, 1175].forEach((hz, i) => {
      const at = t0 + i * 0.25, osc = ctx.createOscillator(), g = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      g.gain.setValueAtTime(0, at);
      g.gain.linearRampToValueAtTime(gain, at + 0.02);
      g.gain.setValueAtTime(gain, at + 0.18);
      g.gain.linearRampToValueAtTime(0, at + 0.21);
      osc.connect(g).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.22);
    });
    alarm.beeps += 1;
    html.dataset.alarmBeeps = String(alarm.beeps);
  }

  function stop() {
    if (alarm.timer) { clearInterval(alarm.timer); alarm.timer = null; }
    if (unmute) unmute.hidden = true;
  }

  function update() {
    const list = document.getElementById("safety-list");
    alarm.volume = list ? list.dataset.alarm : "none";
    if (alarm.volume === "none" || alarm.volume === "silent") {
      stop();
      show(alarm.volume === "silent" ? "silent" : "off");
      return;
    }
    const ctx = audio();
    if (!ctx) { show("unsupported"); return; }
    if (ctx.state !== "running") {
      ctx.resume().catch(() => {}); // browsers refuse sound until the person has touched the page
      if (ctx.state !== "running") {
        if (unmute) unmute.hidden = false;
        show("blocked");
        return;
      }
    }
    if (unmute) unmute.hidden = true;
    if (!alarm.timer) { beep(); alarm.timer = setInterval(beep, REPEAT_MS); }
    show("playing");
  }

  function refresh() {
    return fetch(root.dataset.safetyFragment, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then((r) => r.ok ? r.text() : Promise.reject(r.status))
      .then((text) => {
        const before = root.querySelectorAll("[data-safety-alert]").length;
        root.innerHTML = text;
        const after = root.querySelectorAll("[data-safety-alert]").length;
        if (after > before) say(window.hearthWords.say("new_safety_alert", {}, "New safety alert."));
        update();
      })
      .catch(() => {});
  }

  root.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-ack]");
    if (!form) return;
    e.preventDefault();
    const item = form.closest("[data-safety-alert]");
    fetch(form.action, {
      method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    }).then((r) => {
      if (!r.ok) return Promise.reject(r.status);
      if (item) item.remove();
      say(window.hearthWords.say("alert_acknowledged", {}, "Alert acknowledged."));
      return refresh();
    }).catch(() => form.submit()); // the plain form still works
  });

  function unlock() { const ctx = audio(); if (ctx && ctx.state !== "running") ctx.resume().catch(() => {}); }
  if (unmute) unmute.addEventListener("click", unlock);
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });

  if (window.EventSource && root.dataset.safetyLive) {
    const source = new EventSource(root.dataset.safetyLive);
    source.addEventListener("safety", refresh);
    source.addEventListener("open", refresh); // anything raised before the stream began
  }
  window.hearthAlarm = alarm;
  update();
})();
