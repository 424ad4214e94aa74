// The "now" dashboard reloads itself every minute until the reader pauses it (WCAG 2.2.1: a page
// that refreshes itself lets its reader stop it). Without script the page has a plain reload link.
(function () {
  "use strict";
  var button = document.getElementById("auto-refresh");
  if (!button) {
    return;
  }
  var seconds = parseInt(button.getAttribute("data-seconds"), 10) || 60;
  var timer = null;
  function start() {
    timer = window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
    button.setAttribute("aria-pressed", "true");
  }
  function stop() {
    window.clearTimeout(timer);
    timer = null;
    button.setAttribute("aria-pressed", "false");
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    if (timer === null) {
      start();
    } else {
      stop();
    }
  });
  start();
}());
