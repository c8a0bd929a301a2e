/* Find a place without GPS: the search box of templates/partials/search_box.html.
 *
 * Typing asks GET /api/v1/search (debounced, the previous request aborted) and lists the
 * places as an ARIA combobox: ArrowDown/ArrowUp move, Enter chooses (the first place when
 * none is highlighted), Escape closes; a tap or click chooses too. Each option is at least
 * 44 px tall.
 *
 * The hook: choosing a place dispatches, on the box's root element (it bubbles to
 * document),
 *
 *   new CustomEvent("locator:place", {bubbles: true, detail: {
 *     lon, lat,          // WGS-84 numbers
 *     label,             // what the rider chose, e.g. "鼓楼区"
 *     kind,              // "station" | "district" | "street" | "point"
 *     id, code, source   // station id or district adcode, station code, data source
 *   }})
 *
 * e.g. document.addEventListener("locator:place", e => searchNearest(e.detail.lon,
 * e.detail.lat, e.detail.label)).  window.LocatorPlaceSearch.init(root) wires a box added
 * later; boxes present at load are wired automatically.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 150;
  var LIMIT = 8;
  var seq = 0;

  function init(root) {
    if (!root || root.dataset.placeSearchReady) return;
    root.dataset.placeSearchReady = "1";
    var input = root.querySelector(".place-search-input");
    var list = root.querySelector(".place-search-list");
    var status = root.querySelector(".place-search-status");
    var clear = root.querySelector(".place-search-clear");
    var endpoint = root.dataset.endpoint;
    var lang = root.dataset.lang === "en" ? "en" : "zh";
    var uid = "ps" + (++seq);
    var places = [];
    var active = -1;
    var timer = null;
    var inflight = null;

    function say(text, isError) {
      status.textContent = text || "";
      status.classList.toggle("is-error", !!isError);
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(i) {
      var items = list.querySelectorAll(".place-search-option");
      if (!items.length) return;
      active = (i + items.length) % items.length;
      for (var k = 0; k < items.length; k++) {
        items[k].setAttribute("aria-selected", k === active ? "true" : "false");
      }
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({block: "nearest"});
    }

    function render(found) {
      places = found;
      list.textContent = "";
      active = -1;
      input.removeAttribute("aria-activedescendant");
      found.forEach(function (p, i) {
        var li = document.createElement("li");
        li.className = "place-search-option";
        li.id = uid + "-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.kind = p.kind;
        var top = document.createElement("span");
        top.className = "ps-label";
        var kind = document.createElement("span");
        kind.className = "ps-kind";
        kind.textContent = root.dataset["kind" + p.kind.charAt(0).toUpperCase() +
                                        p.kind.slice(1)] || p.kind;
        top.appendChild(kind);
        top.appendChild(document.createTextNode(p.label));
        var sub = document.createElement("span");
        sub.className = "ps-sub";
        sub.textContent = p.sublabel || "";
        li.appendChild(top);
        li.appendChild(sub);
        // pointerdown keeps the focus in the input; click (touch or mouse) chooses
        li.addEventListener("mousedown", function (e) { e.preventDefault(); });
        li.addEventListener("click", function () { choose(i); });
        list.appendChild(li);
      });
      var open = found.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      say(open ? root.dataset.msgCount.replace("{n}", found.length) : root.dataset.msgNone);
    }

    function choose(i) {
      var p = places[i];
      if (!p) return;
      input.value = p.label;
      clear.hidden = false;
      close();
      say(p.label);
      root.dispatchEvent(new CustomEvent("locator:place", {bubbles: true, detail: {
        lon: p.lon, lat: p.lat, label: p.label, kind: p.kind, id: p.id || null,
        code: p.code || null, source: p.source
      }}));
    }

    function query(text) {
      if (inflight) inflight.abort();
      var ctl = window.AbortController ? new AbortController() : null;
      inflight = ctl;
      var url = endpoint + "?q=" + encodeURIComponent(text) + "&lang=" + lang +
                "&limit=" + LIMIT;
      return fetch(url, {signal: ctl ? ctl.signal : undefined,
                         headers: {"Accept": "application/json"}})
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            return {ok: r.ok, body: body};
          });
        })
        .then(function (res) {
          if (input.value.trim() !== text) return;  // typed on meanwhile
          if (!res.ok) {
            render([]);
            close();
            say((res.body && res.body.detail) || root.dataset.msgError, true);
            return;
          }
          render(res.body.places || []);
        })
        .catch(function (e) {
          if (e && e.name === "AbortError") return;
          render([]);
          close();
          say(root.dataset.msgError, true);
        });
    }

    input.addEventListener("input", function () {
      var text = input.value.trim();
      clear.hidden = !input.value;
      clearTimeout(timer);
      if (!text) { render([]); close(); say(""); return; }
      timer = setTimeout(function () { query(text); }, DEBOUNCE_MS);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (list.hidden && places.length) { list.hidden = false;
          input.setAttribute("aria-expanded", "true"); }
        highlight(active + 1);
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        highlight(active - 1);
      } else if (e.key === "Enter") {
        e.preventDefault();
        var text = input.value.trim();
        if (!text) return;
        if (!list.hidden && places.length) { choose(active >= 0 ? active : 0); return; }
        clearTimeout(timer);
        query(text).then(function () { if (places.length === 1) choose(0); });
      } else if (e.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    clear.addEventListener("click", function () {
      input.value = "";
      clear.hidden = true;
      render([]);
      close();
      say("");
      input.focus();
    });
  }

  window.LocatorPlaceSearch = {init: init};
  function all() {
    var boxes = document.querySelectorAll("[data-place-search]");
    for (var i = 0; i < boxes.length; i++) init(boxes[i]);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", all);
  } else {
    all();
  }
})();
