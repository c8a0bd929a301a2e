/*
 * The rider page: find the nearest stations from the phone's location (WGS-84),
 * a tap on the map (in the map's CRS) or typed coordinates (WGS-84, GCJ-02 or
 * BD-09). The search point is sent with its CRS and the API converts it to
 * WGS-84 before querying; results are drawn in the map's CRS (the API returns
 * GCJ-02 coordinates for every station, used when the tiles are Amap's).
 *
 * The nearest station gets a card of its own right under the "my location"
 * button (name, distance, minutes, open now and on arrival, one big "navigate"
 * button), so that it is on screen without scrolling; the map and the full list
 * follow. Beyond the API's distance horizon the card says where the nearest station
 * is instead, without minutes or navigation. A failed search clears the old results
 * and shows the API's own message (in the page's language), with a one-tap
 * suggestion when lon and lat look swapped. Every search is written to the address
 * bar (history.replaceState), so that a copied link opens the same results.
 *
 * Everything from the API is put on the page with textContent / attributes,
 * never as HTML.
 *
 * The page is built for a weak signal: this script is inlined in the page and the map
 * library (Leaflet, about 40 KB compressed) is loaded only once the first result is on
 * screen, or when the rider needs the map before that (loadMap), so that the first
 * answer waits for nothing but the page itself and the API.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('rider-config').textContent);
  var S = cfg.strings;
  var byId = function (id) { return document.getElementById(id); };
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  var form = byId('finder');
  var statusBox = byId('status');
  var list = byId('results');
  var manual = byId('manual');
  var locateBtn = byId('locate');
  var navSelect = byId('nav-app');
  var lonInput = byId('f-lon');
  var latInput = byId('f-lat');
  var crsSelect = byId('f-crs');
  var nearestBox = byId('nearest');
  var suggestBox = byId('suggest');

  var state = { origin: null, seq: 0, last: null, layer: null, pins: [], here: null,
                inFlight: null, locating: false };

  function fmt(template, vars) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m;
    });
  }

  function setStatus(text, kind) {
    statusBox.textContent = text || '';
    statusBox.className = 'status' + (kind ? ' ' + kind : '');
  }

  // ------------------------------------------------------------ preferences
  var navApp = 'amap';
  try { navApp = window.localStorage.getItem('navApp') || 'amap'; } catch (e) { /* private mode */ }
  if (cfg.navApps.indexOf(navApp) < 0) { navApp = 'amap'; }
  navSelect.value = navApp;
  navSelect.addEventListener('change', function () {
    navApp = navSelect.value;
    try { window.localStorage.setItem('navApp', navApp); } catch (e) { /* ignore */ }
    if (state.last) { renderList(state.last); }
  });

  // ------------------------------------------------------------ formatting
  function distanceText(d) {
    if (d < 1000) { return fmt(S.metres, { d: Math.round(d / 10) * 10 }); }
    return fmt(S.kilometres, { d: (d / 1000).toFixed(1) });
  }

  function todayInChina() {
    try {
      return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
    } catch (e) {
      return '';
    }
  }

  function changeText(r) {
    // next_change is ISO 8601 in the station's own time zone: read it as written.
    if (!r.next_change || (r.open_status !== 'open' && r.open_status !== 'closed')) { return ''; }
    var iso = String(r.next_change);
    var t = iso.slice(11, 16);
    if (iso.slice(0, 10) !== todayInChina()) { t = iso.slice(5, 10) + ' ' + t; }
    return fmt(r.open_status === 'open' ? S.until : S.opens, { t: t });
  }

  function label(r, zhKey, enKey) {
    return cfg.lang === 'en' ? r[enKey] : r[zhKey];
  }

  function typeColor(code) {
    var t = cfg.types[code];
    return t ? t[1] : '#495057';
  }

  // ------------------------------------------------------------ list
  function item(r, rank, mode) {
    var li = el('li', 'result');
    li.setAttribute('data-station-id', r.id);

    var head = el('div', 'r-head');
    var badge = el('span', 'r-rank', rank);
    badge.style.background = typeColor(r.type);
    head.appendChild(badge);
    var name = el('a', 'r-name', r.name);
    name.href = cfg.stationPage + encodeURIComponent(r.id) + '?mode=' + encodeURIComponent(mode);
    head.appendChild(name);
    li.appendChild(head);
    li.appendChild(el('p', 'r-type', label(r, 'type_zh', 'type_en')));

    var facts = el('p', 'r-facts');
    facts.appendChild(el('span', 'r-dist', distanceText(r.distance_m)));
    facts.appendChild(el('span', 'r-eta', etaText(r, mode)));
    facts.appendChild(openNow(r));
    var arr = arrival(r);
    if (arr) { facts.appendChild(arr); }
    if (r.freshness) {
      facts.appendChild(el('span', 'r-fresh fresh-' + r.freshness.state,
        cfg.lang === 'en' ? r.freshness.label_en : r.freshness.label_zh));
    }
    li.appendChild(facts);
    if (r.reported_closed) {
      li.className += ' reported-closed';
      li.setAttribute('data-reported-closed', '1');
      li.appendChild(el('p', 'r-flag', '⚠ ' + S.reported_closed));
    }

    if (r.amenity_labels && r.amenity_labels.length) {
      var ul = el('ul', 'amenities');
      r.amenity_labels.forEach(function (a) {
        ul.appendChild(el('li', 'badge amenity-' + a.code, cfg.lang === 'en' ? a.en : a.zh));
      });
      li.appendChild(ul);
    }
    if (r.access && r.access !== 'public') {
      li.appendChild(el('p', 'r-access', label(r, 'access_zh', 'access_en')));
    }
    var entry = entryLine(r, 'r-entry');
    if (entry && r.entry.how !== 'unknown') { li.appendChild(entry); }
    if (r.address) { li.appendChild(el('p', 'r-addr', r.address)); }
    if (r.phone) {
      var ph = el('p', 'r-phone');
      var tel = el('a', null, r.phone);
      tel.href = 'tel:' + String(r.phone).replace(/[^0-9+]/g, '');
      ph.appendChild(tel);
      li.appendChild(ph);
    }

    var links = r.nav_links || {};
    var nav = el('p', 'r-nav');
    var main = el('a', 'btn btn-nav', S.navigate + ' · ' + (S['app_' + navApp] || navApp));
    main.appendChild(el('span', 'visually-hidden', ' ' + r.name));  // a screen reader's links list
    main.href = navHref(r);
    main.target = '_blank';
    main.rel = 'noopener noreferrer';
    navData(main, r);
    nav.appendChild(main);
    var alts = el('span', 'alt-links');
    cfg.navApps.forEach(function (app) {
      if (app === navApp || !links[app]) { return; }
      var a = el('a', 'btn alt-link', S['app_' + app] || app);
      a.href = links[app];
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      alts.appendChild(a);
    });
    nav.appendChild(alts);
    li.appendChild(nav);
    var report = el('a', 'btn r-report', S.report || 'Report a problem');
    report.href = cfg.stationPage + encodeURIComponent(r.id) + '/report';
    li.appendChild(el('p', 'r-report-line')).appendChild(report);
    return li;
  }

  // How the rider gets in at the arrival time (the API's "entry"): staff there, else the
  // door's method (QR code with which app, keypad and whom to call...), else not known.
  function entryLine(r, cls) {
    var e = r.entry;
    if (!e || !e.label) { return null; }
    var p = el('p', cls + ' entry-' + e.how);
    p.appendChild(el('strong', null, S.entry_how || ''));
    p.appendChild(document.createTextNode(e.label));
    return p;
  }

  // A station riders report closed is not shown as "open now": its hours say open,
  // the riders say it is not.
  function openNow(r) {
    if (r.reported_closed) { return el('span', 'open-state open-reported', S.open_reported); }
    return el('span', 'open-state open-' + r.open_status,
      (S['open_' + r.open_status] || r.open_status) + changeText(r));
  }

  // Open when the rider gets there (the API's "arrival"), or null: not for a station
  // riders report closed, nor when the hours are unknown (the "now" state says so).
  function arrival(r) {
    var a = r.arrival;
    if (!a || r.reported_closed) { return null; }
    if (a.open === null || a.open === undefined) {
      return r.open_status === 'unknown' ? null : el('span', 'arrival arrival-unknown', S.arrive_unknown);
    }
    if (a.open && a.closes_in_min !== null && a.closes_in_min !== undefined) {
      return el('span', 'arrival arrival-closing', fmt(S.arrive_closing, { n: a.closes_in_min }));
    }
    return a.open ? el('span', 'arrival arrival-open', S.arrive_open)
                  : el('span', 'arrival arrival-closed', S.arrive_closed);
  }

  // The station in GCJ-02 on a 导航 button: inside WeChat, static/wechat.js opens
  // WeChat's own map from these (wx.openLocation); the link stays the fallback.
  function navData(a, r) {
    var g = r.coords && r.coords.gcj02;
    if (!g) { return; }
    a.setAttribute('data-nav-lon', String(g[0]));
    a.setAttribute('data-nav-lat', String(g[1]));
    a.setAttribute('data-nav-name', r.name || '');
    a.setAttribute('data-nav-address', r.address || '');
  }

  function navHref(r) {
    var links = r.nav_links || {};
    return links[navApp] || links.amap || '#';
  }

  function etaText(r, mode) {
    return fmt(S.eta, { mode: S['mode_' + mode] || mode, m: Math.max(1, Math.round(r.eta_min)) });
  }

  function nearestCard(r, mode) {
    var card = el('article', 'nearest-card' + (r.reported_closed ? ' reported-closed' : ''));
    card.setAttribute('data-station-id', r.id);
    card.appendChild(el('p', 'nc-label', S.nearest_label));
    var name = el('a', 'nc-name', r.name);
    name.href = cfg.stationPage + encodeURIComponent(r.id) + '?mode=' + encodeURIComponent(mode);
    card.appendChild(name);
    var facts = el('p', 'nc-facts');
    facts.appendChild(el('span', 'nc-dist', distanceText(r.distance_m)));
    facts.appendChild(el('span', 'nc-eta', etaText(r, mode)));
    card.appendChild(facts);
    var open = el('p', 'nc-open');
    open.appendChild(openNow(r));
    var arr = arrival(r);
    if (arr) { open.appendChild(arr); }
    card.appendChild(open);
    if (r.reported_closed) { card.appendChild(el('p', 'r-flag', '⚠ ' + S.reported_closed)); }
    var entry = entryLine(r, 'nc-entry');
    if (entry) { card.appendChild(entry); }
    var nav = el('a', 'btn btn-nav nc-nav', S.navigate + ' · ' + (S['app_' + navApp] || navApp));
    nav.appendChild(el('span', 'visually-hidden', ' ' + r.name));
    nav.href = navHref(r);
    nav.target = '_blank';
    nav.rel = 'noopener noreferrer';
    navData(nav, r);
    card.appendChild(nav);
    return card;
  }

  function kmText(m) { return String(Math.round(m / 100) / 10); }

  // The horizon's answer when nothing is near: where the nearest station is.
  function farCard(h) {
    var near = h.nearest;
    if (!near) { return null; }
    var card = el('article', 'nearest-card nearest-far');
    card.setAttribute('data-horizon', 'far');
    card.setAttribute('data-station-id', near.id);
    var place = (near.city || '') + (near.district || '');
    card.appendChild(el('p', 'nc-far-where', fmt(S.far_nearest, {
      name: near.name, place: place ? fmt(S.far_place, { place: place }) : '',
      d: distanceText(near.distance_m)
    })));
    return card;
  }

  function isFar(body) { return !!(body.horizon && body.horizon.nearby === false); }

  function renderNearest(body) {
    var mode = body.query && body.query.mode ? body.query.mode : 'walk';
    nearestBox.textContent = '';
    var card = isFar(body) ? farCard(body.horizon)
      : body.results.length ? nearestCard(body.results[0], mode) : null;
    if (card) { nearestBox.appendChild(card); }
    nearestBox.hidden = !card;
  }

  function renderList(body) {
    var mode = body.query && body.query.mode ? body.query.mode : 'walk';
    list.textContent = '';
    renderNearest(body);
    if (isFar(body)) { return; }  // no minutes or navigation for stations that far
    body.results.forEach(function (r, i) { list.appendChild(item(r, i + 1, mode)); });
  }

  function clearResults() {
    state.last = null;
    list.textContent = '';
    nearestBox.textContent = '';
    nearestBox.hidden = true;
    if (state.layer) { state.layer.remove(); state.layer = null; }
    state.pins = [];
    var entry = mapEntry();
    if (entry) { entry.map.getContainer().setAttribute('data-marker-count', '0'); }
  }

  // Bring the nearest card fully on screen when it is not (after a search typed
  // further down the page); it already is after "use my location".
  function showCard() {
    if (nearestBox.hidden || !nearestBox.getBoundingClientRect) { return; }
    var box = nearestBox.getBoundingClientRect();
    var h = window.innerHeight || document.documentElement.clientHeight;
    if (box.top < 0 || box.bottom > h) {
      nearestBox.scrollIntoView({ block: box.height < h ? 'center' : 'start' });
    }
  }

  function focusItem(id) {
    var items = list.querySelectorAll('li.result');
    for (var i = 0; i < items.length; i++) {
      var hit = items[i].getAttribute('data-station-id') === id;
      items[i].classList.toggle('focused', hit);
      if (hit && items[i].scrollIntoView) {
        items[i].scrollIntoView({ behavior: 'smooth', block: 'nearest' });
      }
    }
  }

  // ------------------------------------------------------------ map
  function mapEntry() { return window.LocatorMaps ? window.LocatorMaps.get(cfg.mapKey) : null; }

  var PIN = 44;  // a pin's tap area (its drawn disc is smaller), px

  // A pin's icon drawn (dx, dy) px away from the station's true position; the marker
  // itself stays at that position (getLatLng is always the station's).
  function pinIcon(p, dx, dy) {
    var inner = el('span', 'rank-pin-inner', p.rank);
    inner.style.background = p.color;
    return L.divIcon({ html: inner, className: 'rank-pin', iconSize: [PIN, PIN],
                       iconAnchor: [PIN / 2 - dx, PIN / 2 - dy] });
  }

  function placePin(p, dx, dy) {
    dx = Math.round(dx); dy = Math.round(dy);
    if (p.dx !== dx || p.dy !== dy) {
      p.dx = dx; p.dy = dy;
      p.marker.setIcon(pinIcon(p, dx, dy));
    }
  }

  // Pins whose tap areas (PIN x PIN squares) overlap are pushed apart, each as little
  // as needed (pairwise, along the axis that needs the smaller move, until no two
  // overlap), and a thin line joins a moved pin to its station; recomputed on every
  // zoom, so that every pin can be tapped and none hides another. The rider's own
  // position stays clear too (it does not move; pins move off it).
  var HERE = 22;  // the space kept around the rider's position, px

  function spreadPins() {
    var entry = mapEntry();
    if (!entry || !state.pins.length) { return; }
    var map = entry.map;
    var pins = state.pins;
    var pts = pins.map(function (p) { return map.latLngToLayerPoint(p.ll); });
    var at = pts.map(function (p) { return { x: p.x, y: p.y, half: PIN / 2, fixed: false }; });
    if (state.here) {
      var h = map.latLngToLayerPoint(state.here);
      at.push({ x: h.x, y: h.y, half: HERE / 2, fixed: true });
    }
    for (var round = 0; round < 200; round++) {
      var moved = false;
      for (var i = 0; i < at.length; i++) {
        for (var j = i + 1; j < at.length; j++) {
          var a = at[i], b = at[j];
          var gap = a.half + b.half + 1;
          var dx = b.x - a.x, dy = b.y - a.y;
          var ox = gap - Math.abs(dx), oy = gap - Math.abs(dy);
          if (ox <= 0 || oy <= 0) { continue; }
          moved = true;
          // a fixed item does not move: the other one takes the whole shift
          var wa = a.fixed ? 0 : b.fixed ? 1 : 0.5, wb = 1 - wa;
          if (ox <= oy) {
            var sx = dx > 0 || dx === 0 ? 1 : -1;  // the same spot: i to the left
            a.x -= sx * ox * wa; b.x += sx * ox * wb;
          } else {
            var sy = dy > 0 ? 1 : -1;
            a.y -= sy * oy * wa; b.y += sy * oy * wb;
          }
        }
      }
      if (!moved) { break; }
    }
    pins.forEach(function (p, k) {  // (at[k] for k < pins.length are the pins)
      var dx = at[k].x - pts[k].x, dy = at[k].y - pts[k].y;
      placePin(p, dx, dy);
      p.leg.setLatLngs(Math.abs(dx) < 1 && Math.abs(dy) < 1 ? []
        : [p.ll, map.layerPointToLatLng(L.point(at[k].x, at[k].y))]);
    });
  }

  function drawMap(body) {
    var entry = mapEntry();
    if (!entry) { return; }
    var map = entry.map;
    if (state.layer) { state.layer.remove(); state.layer = null; }
    state.pins = [];
    state.here = null;
    var group = L.featureGroup();
    var q = body.query;
    var o = window.LocatorMaps.toMapCrs(q.lon, q.lat, entry.crs);
    var here = L.circleMarker([o[1], o[0]], {
      radius: 8, color: '#ffffff', weight: 3, fillColor: '#1c7ed6', fillOpacity: 1,
      interactive: false, bubblingMouseEvents: false, className: 'my-position'
    }).addTo(group);
    state.here = here.getLatLng();
    var shown = isFar(body) ? [] : body.results;
    shown.forEach(function (r, i) {
      var ll = L.latLng(entry.crs === 'gcj02' && r.coords ? [r.coords.gcj02[1], r.coords.gcj02[0]]
                                                          : [r.lat, r.lon]);
      var pin = { ll: ll, rank: i + 1, color: typeColor(r.type), dx: 0, dy: 0 };
      var marker = L.marker(ll, {
        icon: pinIcon(pin, 0, 0), title: r.name, alt: r.name, keyboard: true, riseOnHover: true
      });
      pin.marker = marker;
      marker.on('click', function () { focusItem(r.id); });
      var leg = L.polyline([], { color: '#343a40', weight: 1.5, opacity: 0.8, interactive: false,
                                 className: 'rank-pin-spread' });
      group.addLayer(leg);
      group.addLayer(marker);
      pin.leg = leg;
      state.pins.push(pin);
    });
    group.addTo(map);
    state.layer = group;
    if (shown.length) {
      var bounds = L.latLngBounds([here.getLatLng()]);
      state.pins.forEach(function (p) { bounds.extend(p.ll); });
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16, animate: false });
    } else {
      map.setView(here.getLatLng(), 11, { animate: false });
    }
    spreadPins();
    map.getContainer().setAttribute('data-marker-count', String(shown.length));
  }

  // ------------------------------------------------------------ search
  function query() {
    var q = new URLSearchParams();
    var o = state.origin;
    q.set('lon', String(o.lon));
    q.set('lat', String(o.lat));
    q.set('crs', o.crs);
    q.set('k', String(cfg.k));
    var mode = form.querySelector('input[name=mode]:checked');
    q.set('mode', mode ? mode.value : 'walk');
    var type = byId('f-type').value;
    if (type) { q.set('type', type); }
    var boxes = form.querySelectorAll('input[name=amenity]:checked');
    for (var i = 0; i < boxes.length; i++) { q.append('amenity', boxes[i].value); }
    q.set('open_now', byId('f-open').checked ? 'true' : 'false');
    q.set('lang', cfg.lang === 'en' ? 'en' : 'zh');
    return q;
  }

  // The page's own address for the current search (what the no-JavaScript form sends),
  // so that a copied link opens the same results.
  function pageUrl(q) {
    var p = new URLSearchParams();
    ['lon', 'lat', 'crs', 'mode', 'type'].forEach(function (k) { if (q.get(k)) { p.set(k, q.get(k)); } });
    q.getAll('amenity').forEach(function (a) { p.append('amenity', a); });
    p.set('open_now', q.get('open_now'));
    var lang = new URLSearchParams(window.location.search).get('lang');
    if (lang) { p.set('lang', lang); }
    return window.location.pathname + '?' + p.toString();
  }

  function remember(q) {
    if (!window.history || !window.history.replaceState) { return; }
    try {
      window.history.replaceState(window.history.state, '', pageUrl(q));
    } catch (e) { /* a sandboxed frame may refuse: the search still runs */ }
  }

  function hideSuggestion() {
    suggestBox.textContent = '';
    suggestBox.hidden = true;
  }

  // lon and lat look swapped (the API says so): one tap searches the pair it suggests.
  function offerSwap(sugg) {
    hideSuggestion();
    if (!sugg || sugg.lon === undefined || sugg.lat === undefined) { return; }
    var b = el('button', 'btn suggest-btn', fmt(S.swap_question, { lon: sugg.lon, lat: sugg.lat }));
    b.type = 'button';
    b.addEventListener('click', function () {
      lonInput.value = String(sugg.lon);
      latInput.value = String(sugg.lat);
      setOrigin(Number(sugg.lon), Number(sugg.lat), state.origin ? state.origin.crs : 'wgs84', 'typed');
      search();
    });
    suggestBox.appendChild(b);
    suggestBox.hidden = false;
  }

  function failed(text, body) {
    clearResults();
    setStatus(text, 'error');
    offerSwap(body && body.suggestion);
  }

  // The same search answered in the browser from the copy of the area's stations kept
  // on the phone (offline.js): shown at once, replaced by the server's answer when it
  // comes, kept (and said to be a saved copy) when the network fails.
  function localQuery(q) {
    return {
      lon: state.origin.lon, lat: state.origin.lat, k: cfg.k, mode: q.get('mode'),
      types: q.get('type') ? [q.get('type')] : [], amenities: q.getAll('amenity'),
      openAt: q.get('open_now') === 'true' ? new Date() : null, includeClosed: false
    };
  }

  function localBody(local, q) {
    var max = cfg.horizonM || 20000;
    var first = local.results[0];
    var body = { query: { mode: q.get('mode'), lon: state.origin.lon, lat: state.origin.lat,
                          crs: 'wgs84', input_crs: 'wgs84' },
                 results: local.results,
                 sample_data: local.sample_data, local: local.pack };
    if (first && first.distance_m > max) {
      body.horizon = { max_m: max, nearby: false, nearest: {
        id: first.id, name: first.name, district: first.district_name || '', city: '',
        distance_m: first.distance_m } };
    }
    return body;
  }

  function ageText(pack) {
    var h = pack.age_hours;
    return h < 1 ? fmt(S.age_minutes, { n: Math.max(1, Math.round(h * 60)) })
                 : fmt(S.age_hours, { n: Math.round(h) });
  }

  function showBody(body, how) {
    state.last = body;
    renderList(body);
    drawMap(body);
    var n = body.results.length;
    if (isFar(body)) {
      setStatus(fmt(S.far_title, { km: kmText(body.horizon.max_m) }), 'warn');
    } else {
      setStatus(n ? fmt(S.found, { n: n, where: S['where_' + how] || '' }) : S.none,
                n ? 'ok' : 'warn');
    }
    showCard();
    if (!state.shown) {
      state.shown = true;
      if (window.performance && performance.mark) {
        // Drawn, then painted (the frame after it): what benchmarks/bench_rider.py reads.
        performance.mark('locator:first-result');
        window.requestAnimationFrame(function () {
          window.setTimeout(function () { performance.mark('locator:first-result-painted'); }, 0);
        });
      }
    }
    loadMap();
  }

  function search() {
    if (!state.origin) { return; }
    var q = query();
    var key = q.toString();
    if (state.inFlight === key) { return; }  // the same search is on its way
    state.inFlight = key;
    var seq = ++state.seq;
    var how = state.origin.how;
    var local = null;
    var live = false;
    remember(q);
    hideSuggestion();
    setStatus(S.searching, 'busy');
    document.body.setAttribute('data-search-state', 'busy');
    if (window.LocatorOffline && state.origin.crs === 'wgs84') {
      window.LocatorOffline.nearest(localQuery(q)).then(function (got) {
        if (!got || seq !== state.seq || live) { return; }
        local = localBody(got, q);
        showBody(local, how);
        setStatus(fmt(S.local_first, { age: ageText(got.pack) }), 'busy');
        document.body.setAttribute('data-search-state', 'local');
      });
    }
    window.fetch(cfg.api + '?' + q.toString(), { headers: { Accept: 'application/json' } })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      })
      .then(function (res) {
        if (seq !== state.seq) { return; }
        state.inFlight = null;
        live = true;
        document.body.setAttribute('data-search-state', 'done');
        if (!res.ok) {
          // The API's problem details are in the page's language (lang= is sent).
          failed(S.failed + (res.body.detail || res.body.title || ''), res.body);
          return;
        }
        showBody(res.body, how);
        if (window.LocatorOffline && state.origin.crs === 'wgs84') {
          window.LocatorOffline.refresh(state.origin.lon, state.origin.lat);
        }
      })
      .catch(function () {
        if (seq !== state.seq) { return; }
        state.inFlight = null;
        live = true;
        document.body.setAttribute('data-search-state', 'done');
        if (local) {
          setStatus(fmt(S.offline_copy, { age: ageText(local.local) }), 'warn');
          document.body.setAttribute('data-search-state', 'offline');
          return;
        }
        failed(S.offline, null);
      });
  }

  // Rounded to 6 decimals (about 0.1 m): the point searched is the one in the address bar.
  function round6(v) { return Math.round(v * 1e6) / 1e6; }

  function setOrigin(lon, lat, crs, how) {
    state.origin = { lon: round6(lon), lat: round6(lat), crs: crs, how: how };
    // For the alert banner (alerts.js) and anything else that follows the rider's point.
    document.dispatchEvent(new CustomEvent('locator:origin',
      { detail: { lon: state.origin.lon, lat: state.origin.lat, crs: crs } }));
  }

  // A place chosen in the search box (search.js): search around it.
  document.addEventListener('locator:place', function (e) {
    var d = e.detail || {};
    if (typeof d.lon !== 'number' || typeof d.lat !== 'number') { return; }
    lonInput.value = String(round6(d.lon));
    latInput.value = String(round6(d.lat));
    crsSelect.value = 'wgs84';
    setOrigin(d.lon, d.lat, 'wgs84', 'place');
    search();
  });

  // ------------------------------------------------------------ geolocation
  function fallback(key) {
    setStatus(S[key], 'warn');
    manual.open = true;
    if (manual.scrollIntoView) { manual.scrollIntoView({ block: 'nearest' }); }
  }

  function locate() {
    if (!navigator.geolocation) { fallback('unsupported'); return; }
    if (state.locating) { return; }  // a tap while the automatic locate runs
    state.locating = true;
    setStatus(S.locating, 'busy');
    locateBtn.setAttribute('aria-busy', 'true');
    navigator.geolocation.getCurrentPosition(function (pos) {
      state.locating = false;
      locateBtn.removeAttribute('aria-busy');
      setOrigin(pos.coords.longitude, pos.coords.latitude, 'wgs84', 'gps');  // always WGS-84
      search();
    }, function (err) {
      state.locating = false;
      locateBtn.removeAttribute('aria-busy');
      fallback(err.code === 1 ? 'denied' : err.code === 3 ? 'timeout' : 'unavailable');
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  locateBtn.addEventListener('click', locate);

  // ------------------------------------------------------------ manual entry
  function parseNumber(text) {
    var s = String(text).trim().replace(/，/g, ',');
    if (!/^[-+]?\d+(\.\d+)?$/.test(s)) { return NaN; }
    return parseFloat(s);
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var lonText = lonInput.value;
    var latText = latInput.value;
    // "117.18, 34.26" pasted into the longitude box: split it.
    var pair = String(lonText).replace(/，/g, ',').split(/[,\s]+/).filter(Boolean);
    if (pair.length === 2 && !String(latText).trim()) {
      lonText = pair[0];
      latText = pair[1];
      lonInput.value = lonText;
      latInput.value = latText;
    }
    var lon = parseNumber(lonText);
    var lat = parseNumber(latText);
    if (isNaN(lon) || isNaN(lat)) {
      setStatus(S.need_coords, 'warn');
      manual.open = true;
      return;
    }
    setOrigin(lon, lat, crsSelect.value, 'typed');
    search();
  });

  // The number of active filters, shown on the collapsed filter box.
  function countFilters() {
    var n = form.querySelectorAll('input[name=amenity]:checked').length;
    if (byId('f-type').value) { n += 1; }
    byId('filter-count').textContent = n ? String(n) : '';
  }

  // Any filter change repeats the last search.
  form.addEventListener('change', function (e) {
    var t = e.target;
    if (t === lonInput || t === latInput || t === crsSelect) { return; }
    countFilters();
    if (state.origin) { search(); }
  });
  countFilters();

  // ------------------------------------------------------------ map, loaded later
  // The map's assets (Leaflet, locator-map.js and their styles) wait in a <template> and
  // its setup script in a text/plain script element: loaded once the first result is drawn, or
  // at once when the rider opens the manual choice (tap the map) or nothing is searched
  // within MAP_IDLE_MS. The results are drawn on it when it is there.
  var MAP_IDLE_MS = 1500;
  var mapLoad = null;

  function mapReady(entry) {
    entry.map.on('zoomend', spreadPins);
    entry.map.on('click', function (e) {
      var ll = e.latlng.wrap();
      lonInput.value = ll.lng.toFixed(6);
      latInput.value = ll.lat.toFixed(6);
      crsSelect.value = entry.crs;  // a tap is in the map's CRS (GCJ-02 on Amap tiles)
      setOrigin(ll.lng, ll.lat, entry.crs, 'map');
      search();
    });
    if (state.last) { drawMap(state.last); }
    document.body.setAttribute('data-map', 'ready');
  }

  function loadMap() {
    if (mapLoad) { return mapLoad; }
    var assets = byId('rider-map-assets');
    var setup = byId('rider-map-script');
    if (!assets || !setup) { return Promise.resolve(null); }
    document.body.setAttribute('data-map', 'loading');
    mapLoad = new Promise(function (resolve, reject) {
      var parts = assets.content;
      var links = parts.querySelectorAll('link[rel=stylesheet]');
      for (var i = 0; i < links.length; i++) { document.head.appendChild(links[i].cloneNode(true)); }
      var srcs = parts.querySelectorAll('script[src]');
      var left = srcs.length;
      var done = function () {
        var run = document.createElement('script');
        run.textContent = setup.textContent;
        document.body.appendChild(run);
        resolve(mapEntry());
      };
      if (!left) { done(); return; }
      for (var j = 0; j < srcs.length; j++) {
        var s = document.createElement('script');
        s.src = srcs[j].getAttribute('src');
        s.async = false;  // downloaded together, run in order (Leaflet first)
        s.onload = function () { left -= 1; if (!left) { done(); } };
        s.onerror = function () { reject(new Error('map assets')); };
        document.head.appendChild(s);
      }
    }).then(function (entry) {
      if (window.LocatorMaps) { window.LocatorMaps.onMap(cfg.mapKey, mapReady); }
      return entry;
    }, function () {
      // No map on this signal: the list works without it; a later call tries again.
      mapLoad = null;
      document.body.setAttribute('data-map', 'failed');
      return null;
    });
    return mapLoad;
  }

  manual.addEventListener('toggle', function () { if (manual.open) { loadMap(); } });
  window.setTimeout(function () { if (!state.origin) { loadMap(); } }, MAP_IDLE_MS);

  // ------------------------------------------------------------ start
  if (window.LocatorOffline) { window.LocatorOffline.register(); }
  document.body.setAttribute('data-rider', 'ready');
  var here = new URLSearchParams(window.location.search);
  if (!lonInput.value && !latInput.value && here.get('lon') && here.get('lat')) {
    // The kept page, served with no network for a link with a query: read the query.
    lonInput.value = here.get('lon');
    latInput.value = here.get('lat');
    if (here.get('crs')) { crsSelect.value = here.get('crs'); }
  }
  if (lonInput.value && latInput.value) {
    // Opened with ?lon=..&lat=.. (a shared link or the no-JavaScript form).
    var lon0 = parseNumber(lonInput.value);
    var lat0 = parseNumber(latInput.value);
    if (!isNaN(lon0) && !isNaN(lat0)) {
      setOrigin(lon0, lat0, crsSelect.value, 'typed');
      search();
    }
  } else if (navigator.permissions && navigator.permissions.query) {
    // Locate at once only when the rider has already allowed it (no surprise prompt);
    // otherwise the rider may want the map first (to tap a place): load it now.
    navigator.permissions.query({ name: 'geolocation' }).then(function (p) {
      if (p.state === 'granted' && !state.origin) { locate(); } else { loadMap(); }
    }).catch(function () { loadMap(); });
  } else {
    loadMap();
  }
}());
