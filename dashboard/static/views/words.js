// The words page scripts write, in the viewer's language: the page carries them, translated
// by the server from the gettext catalogues (views/layout.html #page-words); a word the page
// lacks stays as the script's English. window.hearthWords.say("ago_min", { n: 5 }).
(function () {
  "use strict";
  const el = document.getElementById("page-words");
  let words = {};
  try { words = el ? JSON.parse(el.textContent) : {}; } catch (e) { words = {}; }
  function say(key, values, english) {
    let text = words[key] || english || key;
    for (const [k, v] of Object.entries(values || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }
  // a reading's age, as dashboard/views/glucose.py age_text: minutes, then hours, then days
  const HOURS_FROM_MINUTES = 60, DAYS_FROM_MINUTES = 48 * 60;
  function ago(minutes) {
    if (minutes < 1) return say("just_now", {}, "just now");
    if (minutes < HOURS_FROM_MINUTES) return say("ago_min", { n: minutes }, "{n} min ago");
    if (minutes < DAYS_FROM_MINUTES) return say("ago_h", { n: Math.floor(minutes / 60) }, "{n} h ago");
    return say("ago_days", { n: Math.floor(minutes / 1440) }, "{n} days ago");
  }
  window.hearthWords = { say: say, ago: ago };
})();
