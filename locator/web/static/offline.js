/* The rider page's offline copy (see locator/index/offline.py).
 *
 * LocatorOffline.register()        register the service worker (/sw.js)
 * LocatorOffline.refresh(lon, lat) fetch the area's pack in the background and keep it
 *                                  (Cache Storage), at most every 30 minutes per area
 * LocatorOffline.nearest(q)        Promise of {results, pack} computed in the browser
 *                                  from the kept pack, or null when no pack covers q.
 *                                  q = {lon, lat, k, mode, types, amenities, openAt
 *                                  (Date|null), includeClosed}
 *
 * Results have the fields of /api/v1/nearest's results that the cards use, in the
 * server's order: the k nearest by (great-circle distance, id) — the same haversine and
 * Earth radius as the server — that pass the filters (closed stations left out unless
 * asked for; with a time, stations open then plus those with unknown hours), then the
 * reported-closed ones after the others. "Open now" comes from the open intervals the
 * server computed with its own parser, so it agrees with the server by construction.
 */
(function () {
  "use strict";
  var CACHE = "locator-pack-v1";
  var KEY = "/offline-pack.json";
  var REFRESH_MS = 30 * 60 * 1000;
  var pack = null;
  var loading = null;

  function rad(d) { return d * Math.PI / 180; }

  function haversine(R, lon1, lat1, lon2, lat2) {
    var p1 = rad(lat1), p2 = rad(lat2);
    var sdlat = Math.sin((p2 - p1) * 0.5);
    var sdlon = Math.sin(rad(lon2 - lon1) * 0.5);
    var h = sdlat * sdlat + Math.cos(p1) * Math.cos(p2) * sdlon * sdlon;
    return 2 * R * Math.asin(Math.sqrt(Math.min(1, h)));
  }

  function load() {
    if (pack) return Promise.resolve(pack);
    if (loading) return loading;
    if (!("caches" in window)) return Promise.resolve(null);
    loading = caches.open(CACHE).then(function (c) { return c.match(KEY); })
      .then(function (r) { return r ? r.json() : null; })
      .then(function (p) { pack = p && p.format === 1 ? p : null; loading = null; return pack; })
      .catch(function () { loading = null; return null; });
    return loading;
  }

  function covers(p, lon, lat) {
    if (!p) return false;
    var d = haversine(p.earth_radius_m, p.center[0], p.center[1], lon, lat);
    return d <= p.radius_m;
  }

  function refresh(lon, lat) {
    if (!("caches" in window) || !window.fetch) return Promise.resolve(null);
    return load().then(function (p) {
      var fresh = p && (Date.now() - Date.parse(p.made_at)) < REFRESH_MS;
      if (fresh && covers(p, lon, lat) &&
          haversine(p.earth_radius_m, p.center[0], p.center[1], lon, lat) < p.radius_m / 3) {
        return p;
      }
      var url = "/api/v1/offline?lon=" + lon.toFixed(6) + "&lat=" + lat.toFixed(6);
      return fetch(url, {credentials: "omit"}).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.clone().json().then(function (body) {
          return caches.open(CACHE).then(function (c) {
            return c.put(KEY, new Response(JSON.stringify(body),
              {headers: {"Content-Type": "application/json"}}));
          }).then(function () { pack = body; return body; });
        });
      }).catch(function () { return p; });
    });
  }

  function openAt(st, t) {
    if (st.status !== "open") return "closed";  // temporarily closed: closed, as the server
    if (st.open === null) return "unknown";
    var s = t / 1000;
    for (var i = 0; i < st.open.length; i++) {
      if (st.open[i][0] <= s && s < st.open[i][1]) return "open";
    }
    return "closed";
  }

  function nextChange(st, t) {
    if (st.status !== "open" || st.open === null) return null;
    var s = t / 1000;
    for (var i = 0; i < st.open.length; i++) {
      if (s < st.open[i][0]) return new Date(st.open[i][0] * 1000).toISOString();
      if (s < st.open[i][1]) return new Date(st.open[i][1] * 1000).toISOString();
    }
    return null;
  }

  // Python's quote(text, safe=""): encodeURIComponent leaves !'()* as they are.
  function quote(text) {
    return encodeURIComponent(text).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    });
  }

  var NAV_MODES = {walk: ["walk", "walk"], bike: ["ride", "bike"], ebike: ["ride", "bike"]};

  // The destination-only links of locator/stations/navigation.py (no origin: each app
  // starts from the phone's position), from the pack's GCJ-02 and BD-09 coordinates.
  function navLinks(st, mode) {
    var m = NAV_MODES[mode] || NAV_MODES.walk;
    // Inside WeChat only the vendors' H5 pages (navigation.py's h5=True): no callnative.
    var h5 = !!(window.LocatorWeChat && window.LocatorWeChat.isWeChat());
    var label = String(st.name).split(/\s+/).join(" ") || (st.lat.toFixed(6) + "," + st.lon.toFixed(6));
    var g = st.gcj02, b = st.bd09, q = quote(label);
    return {
      amap: "https://uri.amap.com/navigation?to=" + g[0].toFixed(6) + "," + g[1].toFixed(6) + "," +
        quote(label.replace(/,/g, "，")) + "&mode=" + m[0] + "&coordinate=gaode" + (h5 ? "" : "&callnative=1") +
        "&src=station-locator",
      baidu: "https://api.map.baidu.com/marker?location=" + b[1].toFixed(6) + "," + b[0].toFixed(6) +
        "&title=" + q + "&content=" + q + "&coord_type=bd09ll&output=html&src=webapp.station-locator",
      tencent: "https://apis.map.qq.com/uri/v1/routeplan?type=" + m[1] + "&to=" + q + "&tocoord=" +
        g[1].toFixed(6) + "," + g[0].toFixed(6) + "&coord_type=2&referer=station-locator",
      osm: "https://www.openstreetmap.org/?mlat=" + st.lat.toFixed(6) + "&mlon=" + st.lon.toFixed(6) +
        "#map=17/" + st.lat.toFixed(6) + "/" + st.lon.toFixed(6)
    };
  }

  function result(p, st, d, mode, t) {
    var labels = p.labels;
    var speed = p.speeds_kmh[mode] || p.speeds_kmh.walk;
    var type = labels.types[st.type] || [st.type, st.type];
    var access = labels.access[st.access] || [st.access, st.access];
    return {
      id: st.id, name: st.name, type: st.type, type_zh: type[0], type_en: type[1],
      lon: st.lon, lat: st.lat, coords: {gcj02: st.gcj02, bd09: st.bd09},
      status: st.status, amenities: st.amenities,
      amenity_labels: st.amenities.map(function (a) {
        var l = labels.amenities[a] || [a, a];
        return {code: a, zh: l[0], en: l[1]};
      }),
      address: st.address, phone: st.phone, access: st.access, access_zh: access[0],
      access_en: access[1], district_name: st.district_name, source: st.source,
      code: st.code, reported_closed: st.reported_closed, freshness: st.freshness,
      hours_zh: st.hours_zh, hours_en: st.hours_en,
      distance_m: d, eta_min: d * p.detour_factor / (speed * 1000 / 60), mode: mode,
      nav_links: navLinks(st, mode),
      open_status: openAt(st, t), next_change: nextChange(st, t), offline: true
    };
  }

  function nearest(q) {
    return load().then(function (p) {
      if (!p || !covers(p, q.lon, q.lat)) return null;
      var t = q.openAt ? q.openAt.getTime() : Date.now();
      var validUntil = Date.parse(p.valid_until);
      var types = q.types && q.types.length ? q.types : null;
      var amen = q.amenities && q.amenities.length ? q.amenities : null;
      var hits = [];
      p.stations.forEach(function (st) {
        if (st.status === "closed" && !q.includeClosed) return;
        if (types && types.indexOf(st.type) < 0) return;
        if (amen && !amen.every(function (a) { return st.amenities.indexOf(a) >= 0; })) return;
        if (q.openAt && openAt(st, t) === "closed") return;
        hits.push([haversine(p.earth_radius_m, q.lon, q.lat, st.lon, st.lat), st]);
      });
      hits.sort(function (a, b) {
        return a[0] - b[0] || (a[1].id < b[1].id ? -1 : a[1].id > b[1].id ? 1 : 0);
      });
      var top = hits.slice(0, q.k || 5);
      var res = top.filter(function (h) { return !h[1].reported_closed; })
        .concat(top.filter(function (h) { return h[1].reported_closed; }))
        .map(function (h) { return result(p, h[1], h[0], q.mode || "walk", t); });
      return {
        results: res, sample_data: p.sample_data,
        pack: {made_at: p.made_at, complete: p.complete, expired: t > validUntil,
               age_hours: (Date.now() - Date.parse(p.made_at)) / 3600000}
      };
    });
  }

  function register() {
    if (!("serviceWorker" in navigator)) return Promise.resolve(null);
    return navigator.serviceWorker.register("/sw.js", {scope: "/"}).catch(function () {
      return null;
    });
  }

  window.LocatorOffline = {register: register, refresh: refresh, nearest: nearest,
                           load: load, _haversine: haversine};
})();
