/* The rider app's service worker (served at /sw.js; see locator/web/rider/offline.py).
 *
 * The app shell — the rider page and the scripts, styles and map library it needs — is
 * kept in a cache and served from it at once, then refreshed from the network in the
 * background (stale-while-revalidate), so that a repeat visit on a weak signal draws at
 * once and one with no signal still works. The area's station pack is kept by the page
 * itself (offline.js). API answers are never served from here: the page asks the
 * network and, when that fails, computes the answer from its pack and says so.
 */
"use strict";
var VERSION = "__VERSION__";
var SHELL_CACHE = "locator-shell-" + VERSION;
// The rider page carries its own scripts and styles inline ("/" is kept whole); what it
// loads later (the map library) and the station page's files are kept beside it.
var SHELL = ["/", "/static/base.css", "/static/locator-map.js", "/static/cluster.js",
             "/static/map.css", "/static/icon.svg", "/manifest.webmanifest",
             "/static/large.js", "/static/large.css",
             "/vendor/leaflet/leaflet.js", "/vendor/leaflet/leaflet.css"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    // One missing file must not stop the others from being kept.
    return Promise.all(SHELL.map(function (url) {
      return cache.add(new Request(url, {cache: "reload"})).catch(function () {});
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("locator-shell-") === 0 && k !== SHELL_CACHE;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function shellKey(request) {
  var url = new URL(request.url);
  if (request.mode === "navigate" && url.pathname === "/") return "/";
  return url.pathname;
}

function isShell(request) {
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") return false;
  if (request.mode === "navigate") return url.pathname === "/";
  return SHELL.indexOf(url.pathname) >= 0 || url.pathname.indexOf("/vendor/leaflet/") === 0;
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (!isShell(request)) return;  // everything else goes to the network as usual
  var key = shellKey(request);
  if (request.mode === "navigate" && new URL(request.url).search !== "") {
    // A page with a query (a shared search, ?lang=en): the server's answer, and the
    // kept plain page only when there is no network (its script reads the query).
    event.respondWith(fetch(request).catch(function () {
      return caches.open(SHELL_CACHE).then(function (cache) { return cache.match("/"); })
        .then(function (kept) { return kept || Response.error(); });
    }));
    return;
  }
  event.respondWith(caches.open(SHELL_CACHE).then(function (cache) {
    return cache.match(key).then(function (kept) {
      var fresh = fetch(request).then(function (response) {
        // Keep the plain page (no query: the page reads its query itself) and assets.
        if (response.ok && (request.mode !== "navigate" ||
                            new URL(request.url).search === "")) {
          cache.put(key, response.clone());
        }
        return response;
      });
      if (kept) {
        event.waitUntil(fresh.catch(function () {}));
        return kept;
      }
      return fresh;
    });
  }));
});
