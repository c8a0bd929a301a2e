/*
 * The rider page: find the nearest stations from the phone's location (WGS-84),
 * a tap on the map (in the map's CRS) or typed coordinates (WGS-84, GCJ-02 or
 * BD-09). The search point is sent with its CRS and the API converts it to
 * WGS-84 before querying; results are drawn in the map's CRS (the API returns
 * GCJ-02 coordinates for every station, used when the tiles are Amap's).
 *
 * Everything from the API is put on the page with textContent / attributes,
 * never as HTML.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('rider-config').textContent);
  var S = cfg.strings;
  var byId = function (id) { return document.getElementById(id); };
  var el = window.LocatorMaps.el;

  var form = byId('finder');
  var statusBox = byId('status');
  var list = byId('results');
  var manual = byId('manual');
  var locateBtn = byId('locate');
  var navSelect = byId('nav-app');
  var lonInput = byId('f-lon');
  var latInput = byId('f-lat');
  var crsSelect = byId('f-crs');

  var state = { origin: null, seq: 0, last: null, layer: null };

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
    facts.appendChild(el('span', 'r-eta', fmt(S.eta, {
      mode: S['mode_' + mode] || mode, m: Math.max(1, Math.round(r.eta_min))
    })));
    // A station riders report closed is not shown as "open now": its hours say open,
    // the riders say it is not.
    var open = r.reported_closed
      ? el('span', 'open-state open-reported', S.open_reported)
      : el('span', 'open-state open-' + r.open_status,
        (S['open_' + r.open_status] || r.open_status) + changeText(r));
    facts.appendChild(open);
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
    main.href = links[navApp] || links.amap || '#';
    main.target = '_blank';
    main.rel = 'noopener noreferrer';
    nav.appendChild(main);
    var alts = el('span', 'alt-links');
    cfg.navApps.forEach(function (app) {
      if (app === navApp || !links[app]) { return; }
      var a = el('a', 'alt-link', S['app_' + app] || app);
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

  function renderList(body) {
    var mode = body.query && body.query.mode ? body.query.mode : 'walk';
    list.textContent = '';
    body.results.forEach(function (r, i) { list.appendChild(item(r, i + 1, mode)); });
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
  function mapEntry() { return window.LocatorMaps.get(cfg.mapKey); }

  function drawMap(body) {
    var entry = mapEntry();
    if (!entry) { return; }
    var map = entry.map;
    if (state.layer) { state.layer.remove(); state.layer = null; }
    var group = L.featureGroup();
    var q = body.query;
    var o = window.LocatorMaps.toMapCrs(q.lon, q.lat, entry.crs);
    L.circleMarker([o[1], o[0]], {
      radius: 8, color: '#ffffff', weight: 3, fillColor: '#1c7ed6', fillOpacity: 1,
      interactive: false, bubblingMouseEvents: false
    }).addTo(group);
    body.results.forEach(function (r, i) {
      var ll = entry.crs === 'gcj02' && r.coords ? [r.coords.gcj02[1], r.coords.gcj02[0]]
                                                 : [r.lat, r.lon];
      var inner = el('span', 'rank-pin-inner', i + 1);
      inner.style.background = typeColor(r.type);
      var marker = L.marker(ll, {
        icon: L.divIcon({ html: inner, className: 'rank-pin', iconSize: [28, 28] }),
        title: r.name, keyboard: true
      });
      marker.on('click', function () { focusItem(r.id); });
      group.addLayer(marker);
    });
    group.addTo(map);
    state.layer = group;
    map.fitBounds(group.getBounds(), { padding: [30, 30], maxZoom: 16 });
    map.getContainer().setAttribute('data-marker-count', String(body.results.length));
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

  function search() {
    if (!state.origin) { return; }
    var seq = ++state.seq;
    var how = state.origin.how;
    setStatus(S.searching, 'busy');
    document.body.setAttribute('data-search-state', 'busy');
    window.fetch(cfg.api + '?' + query().toString(), { headers: { Accept: 'application/json' } })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      })
      .then(function (res) {
        if (seq !== state.seq) { return; }
        document.body.setAttribute('data-search-state', 'done');
        if (!res.ok) {
          setStatus(S.failed + (res.body.detail || res.body.title || ''), 'error');
          return;
        }
        state.last = res.body;
        renderList(res.body);
        drawMap(res.body);
        var n = res.body.results.length;
        setStatus(n ? fmt(S.found, { n: n, where: S['where_' + how] || '' }) : S.none,
                  n ? 'ok' : 'warn');
      })
      .catch(function () {
        if (seq !== state.seq) { return; }
        document.body.setAttribute('data-search-state', 'done');
        setStatus(S.offline, 'error');
      });
  }

  function setOrigin(lon, lat, crs, how) {
    state.origin = { lon: lon, lat: lat, crs: crs, how: how };
  }

  // ------------------------------------------------------------ geolocation
  function fallback(key) {
    setStatus(S[key], 'warn');
    manual.open = true;
    if (manual.scrollIntoView) { manual.scrollIntoView({ block: 'nearest' }); }
  }

  function locate() {
    if (!navigator.geolocation) { fallback('unsupported'); return; }
    setStatus(S.locating, 'busy');
    locateBtn.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      locateBtn.disabled = false;
      setOrigin(pos.coords.longitude, pos.coords.latitude, 'wgs84', 'gps');  // always WGS-84
      search();
    }, function (err) {
      locateBtn.disabled = false;
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

  window.LocatorMaps.onMap(cfg.mapKey, function (entry) {
    entry.map.on('click', function (e) {
      var ll = e.latlng.wrap();
      lonInput.value = ll.lng.toFixed(6);
      latInput.value = ll.lat.toFixed(6);
      crsSelect.value = entry.crs;  // a tap is in the map's CRS (GCJ-02 on Amap tiles)
      setOrigin(ll.lng, ll.lat, entry.crs, 'map');
      search();
    });
  });

  // ------------------------------------------------------------ start
  if (lonInput.value && latInput.value) {
    // Opened with ?lon=..&lat=.. (a shared link or the no-JavaScript form).
    var lon0 = parseNumber(lonInput.value);
    var lat0 = parseNumber(latInput.value);
    if (!isNaN(lon0) && !isNaN(lat0)) {
      setOrigin(lon0, lat0, crsSelect.value, 'typed');
      search();
    }
  } else if (navigator.permissions && navigator.permissions.query) {
    // Locate at once only when the rider has already allowed it (no surprise prompt).
    navigator.permissions.query({ name: 'geolocation' }).then(function (p) {
      if (p.state === 'granted' && !state.origin) { locate(); }
    }).catch(function () { /* not supported: wait for the button */ });
  }
}());
