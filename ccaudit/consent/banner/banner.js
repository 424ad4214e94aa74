/* ccaudit consent banner. Served by the ccaudit middleware on the platform's own origin; loads
   nothing from anywhere else. Include it once:  <script src="/.ccaudit/banner.js" defer></script>

   It asks for consent per category with three equally prominent choices (accept all, reject all,
   let me choose), writes the ccaudit consent cookie the server decides on, and posts a receipt of
   each choice to the platform. "Change my choices" stays available afterwards; rejecting a category
   accepted before is recorded as a withdrawal. Elements with a data-ccaudit-open attribute, and
   window.ccaudit.openConsent(), open the banner too. */
(function () {
  "use strict";
  var CONFIG = /*CCAUDIT_CONFIG*/null;
  var CSS = /*CCAUDIT_CSS*/"";
  if (!CONFIG || window.ccaudit && window.ccaudit.openConsent) return;

  var DAY_MS = 86400000;
  var script = document.currentScript;
  var lang = pickLanguage();
  var L = CONFIG.languages[lang];
  var T = L.texts;
  var overlay, dialog, panel, customise, changeButton, returnFocus = null;

  function pickLanguage() {
    var candidates = [script && script.getAttribute("lang"), document.documentElement.getAttribute("lang")];
    for (var i = 0; i < candidates.length; i++) {
      var code = (candidates[i] || "").toLowerCase().split("-")[0];
      if (code && CONFIG.languages.hasOwnProperty(code)) return code;
    }
    return CONFIG.defaultLanguage;
  }

  function readCookie() {
    var parts = document.cookie ? document.cookie.split(";") : [];
    var key = CONFIG.cookie + "=";
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].replace(/^\s+/, "");
      if (part.indexOf(key) !== 0) continue;
      try {
        var data = JSON.parse(decodeURIComponent(part.slice(key.length)));
        if (data && data.v === 1 && typeof data.id === "string" && Array.isArray(data.cats) &&
            typeof data.rev === "number" && typeof data.given === "number" && typeof data.updated === "number") {
          return data;
        }
      } catch (e) { /* not ours, or damaged: as if absent */ }
      return null;
    }
    return null;
  }

  function isCurrent(record) {
    var age = Date.now() - record.updated;
    return record.rev === CONFIG.revision && age >= -DAY_MS && age <= CONFIG.maxAgeDays * DAY_MS;
  }

  function newId() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = "";
    for (var i = 0; i < 16; i++) hex += (b[i] + 0x100).toString(16).slice(1);
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs) if (attrs.hasOwnProperty(name)) node.setAttribute(name, attrs[name]);
    if (text !== undefined) {
      node.textContent = text;
      node.setAttribute("data-ccaudit-text", "");  // part of the text the receipt's hash covers
    }
    return node;
  }

  function button(text, action) {
    var b = el("button", { type: "button", "class": "ccaudit-btn", "data-ccaudit-action": action }, text);
    b.addEventListener("click", function () { onAction(action); });
    return b;
  }

  function build() {
    var style = document.createElement("style");
    if (script && script.nonce) style.nonce = script.nonce;
    style.textContent = CSS;
    document.head.appendChild(style);

    overlay = el("div", { "class": "ccaudit-overlay", hidden: "" });
    dialog = el("div", {
      "class": "ccaudit-dialog", role: "dialog", "aria-modal": "true", tabindex: "-1", lang: lang,
      "aria-labelledby": "ccaudit-title", "aria-describedby": "ccaudit-intro", id: "ccaudit-dialog"
    });
    dialog.appendChild(el("h2", { id: "ccaudit-title" }, T.title));
    dialog.appendChild(el("p", { id: "ccaudit-intro" }, T.intro));
    var actions = el("div", { "class": "ccaudit-actions" });
    actions.appendChild(button(T.accept_all, "accept_all"));
    actions.appendChild(button(T.reject_all, "reject_all"));
    customise = button(T.customise, "customise");
    customise.setAttribute("aria-expanded", "false");
    customise.setAttribute("aria-controls", "ccaudit-panel");
    actions.appendChild(customise);
    dialog.appendChild(actions);

    panel = el("div", { "class": "ccaudit-panel", id: "ccaudit-panel", hidden: "" });
    for (var i = 0; i < L.categories.length; i++) {
      var c = L.categories[i];
      var box = el("div", { "class": "ccaudit-cat" });
      var label = el("label", { "for": "ccaudit-cat-" + c.name });
      var input = el("input", {
        type: "checkbox", role: "switch", id: "ccaudit-cat-" + c.name, name: c.name,
        "aria-describedby": "ccaudit-cat-desc-" + c.name
      });
      if (c.required) { input.checked = true; input.disabled = true; }
      label.appendChild(input);
      label.appendChild(el("span", {}, c.title));
      box.appendChild(label);
      box.appendChild(el("p", { id: "ccaudit-cat-desc-" + c.name }, c.description));
      if (c.required) box.appendChild(el("span", { "class": "ccaudit-always" }, T.always_on));
      panel.appendChild(box);
    }
    panel.appendChild(button(T.save, "custom"));
    dialog.appendChild(panel);
    overlay.appendChild(dialog);
    dialog.addEventListener("keydown", onKey);
    document.addEventListener("focusin", function (event) {
      if (!overlay.hidden && !dialog.contains(event.target)) dialog.focus();
    });

    changeButton = el("button", { type: "button", "class": "ccaudit-change", lang: lang, hidden: "" });
    changeButton.textContent = T.change;
    changeButton.addEventListener("click", open);
    document.body.appendChild(overlay);
    document.body.appendChild(changeButton);
    document.addEventListener("click", function (event) {
      var target = event.target;
      if (target && target.closest && target.closest("[data-ccaudit-open]")) {
        event.preventDefault();
        open();
      }
    });
  }

  function focusables() {
    var all = dialog.querySelectorAll("button, input:not([disabled])");
    var shown = [];
    for (var i = 0; i < all.length; i++) if (!panel.hidden || !panel.contains(all[i])) shown.push(all[i]);
    return shown;
  }

  function onKey(event) {
    if (event.key === "Escape") {
      // Escape never accepts anything. It closes the dialog only when a choice is already in force.
      event.preventDefault();
      var record = readCookie();
      if (record && isCurrent(record)) close();
      return;
    }
    if (event.key !== "Tab") return;
    var items = focusables();
    var first = items[0], last = items[items.length - 1];
    var active = document.activeElement;
    if (event.shiftKey && (active === first || active === dialog)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  }

  function open() {
    var record = readCookie();
    var accepted = record && isCurrent(record) ? record.cats : [];
    for (var i = 0; i < L.categories.length; i++) {
      var c = L.categories[i];
      document.getElementById("ccaudit-cat-" + c.name).checked = c.required || accepted.indexOf(c.name) >= 0;
    }
    panel.hidden = true;
    customise.setAttribute("aria-expanded", "false");
    returnFocus = document.activeElement;
    changeButton.hidden = true;
    overlay.hidden = false;
    dialog.focus();
  }

  function close() {
    overlay.hidden = true;
    changeButton.hidden = false;
    var target = returnFocus && returnFocus !== document.body && document.contains(returnFocus) ? returnFocus : changeButton;
    returnFocus = null;
    target.focus();
  }

  function onAction(action) {
    if (action === "customise") {
      panel.hidden = !panel.hidden;
      customise.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
      return;
    }
    var accepted = [];
    for (var i = 0; i < L.categories.length; i++) {
      var c = L.categories[i];
      var on = c.required || action === "accept_all" ||
        action === "custom" && document.getElementById("ccaudit-cat-" + c.name).checked;
      if (on) accepted.push(c.name);
    }
    record(action, accepted.sort());
    close();
  }

  function record(action, accepted) {
    var previous = readCookie();
    var now = Date.now();
    var rejected = [];
    for (var i = 0; i < L.categories.length; i++) {
      if (accepted.indexOf(L.categories[i].name) < 0) rejected.push(L.categories[i].name);
    }
    if (previous) {
      for (var j = 0; j < previous.cats.length; j++) {
        if (rejected.indexOf(previous.cats[j]) >= 0) action = "withdraw";  // taking back what was given
      }
    }
    var id = previous ? previous.id : newId();
    var value = {
      v: 1, id: id, rev: CONFIG.revision, cats: accepted,
      given: previous ? Math.min(previous.given, now) : now, updated: now
    };
    document.cookie = CONFIG.cookie + "=" + encodeURIComponent(JSON.stringify(value)) + "; Path=/; Max-Age=" +
      CONFIG.maxAgeDays * 86400 + "; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
    var receipt = {
      consent_id: id, accepted: accepted, rejected: rejected, action: action, revision: CONFIG.revision,
      banner_text_sha256: L.sha256, language: lang
    };
    try {
      window.fetch(CONFIG.prefix + "/consent", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(receipt)
      })["catch"](function () { /* the cookie stands; the receipt is best effort from here */ });
    } catch (e) { /* no fetch: the cookie stands */ }
  }

  function start() {
    build();
    window.ccaudit = { openConsent: open };
    var record = readCookie();
    if (record && isCurrent(record)) changeButton.hidden = false;
    else open();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
