/* 长辈版 (large text), switched in place (the server's side: locator/web/display.py).
 *
 * The toggle in the top bar is the submit button of a form that, without JavaScript,
 * posts to /display/large and comes back to the page. Here it switches the page at once
 * instead: the class "large-text" on <html> and <body>, the cookie "large" (for every
 * later page, which the server then renders large), aria-pressed, and large.css, which
 * pages load only while the mode is on.
 *
 * A copy of the rider page kept by the service worker (sw.js) was rendered with the
 * cookie of its day: if it disagrees with the cookie it is corrected here, and the kept
 * copy refreshed.
 */
(function () {
  "use strict";
  var root = document.documentElement;

  function fromCookie() {
    var m = /(?:^|;\s*)large=([01])(?:;|$)/.exec(document.cookie);
    return m ? m[1] === "1" : null;
  }

  function fromQuery() {
    var v = (new URLSearchParams(window.location.search).get("large") || "").toLowerCase();
    if (["1", "true", "on", "yes"].indexOf(v) >= 0) { return true; }
    if (["0", "false", "off", "no"].indexOf(v) >= 0) { return false; }
    return null;
  }

  function remember(on) {
    document.cookie = "large=" + (on ? "1" : "0") + "; path=/; max-age=31536000; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
  }

  function relayout() {
    // Leaflet measures its maps again on a window resize.
    window.dispatchEvent(new Event("resize"));
  }

  function ensureStyles(form) {
    if (document.getElementById("large-css") || !form || !form.dataset.css) { return; }
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.id = "large-css";
    link.href = form.dataset.css;
    link.addEventListener("load", relayout);
    document.head.appendChild(link);
  }

  function apply(on, form) {
    if (on) { ensureStyles(form); }
    root.classList.toggle("large-text", on);
    document.body.classList.toggle("large-text", on);
    if (form) {
      var button = form.querySelector(".large-toggle");
      var field = form.querySelector("input[name=large]");
      if (button) { button.setAttribute("aria-pressed", on ? "true" : "false"); }
      if (field) { field.value = on ? "0" : "1"; }
    }
    relayout();
  }

  function refreshKeptCopy() {
    // The worker answers "/" from its cache and stores the network's answer, fetched
    // with the new cookie, in its place.
    if (navigator.serviceWorker && navigator.serviceWorker.controller && window.fetch) {
      window.fetch("/", {credentials: "same-origin", cache: "no-store"}).catch(function () {});
    }
  }

  function dropQuery() {
    // A ?large= in the address bar would undo the choice on a reload.
    if (!window.history || !window.history.replaceState) { return; }
    var url = new URL(window.location.href);
    if (!url.searchParams.has("large")) { return; }
    url.searchParams.delete("large");
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  }

  function init() {
    var form = document.querySelector("form.large-toggle-form");
    var asked = fromQuery();
    var stored = fromCookie();
    var want = asked !== null ? asked : stored;
    if (asked !== null && asked !== stored) { remember(asked); }
    if (want !== null && want !== root.classList.contains("large-text")) {
      apply(want, form);
      refreshKeptCopy();
    }
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var on = !root.classList.contains("large-text");
      remember(on);
      apply(on, form);
      dropQuery();
      refreshKeptCopy();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
