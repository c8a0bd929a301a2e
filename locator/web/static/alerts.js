/*
 * The heat / cold alert banner (templates/partials/alert_banner.html).
 *
 * The server renders the most severe active alert (for the rider's district when the
 * page has a point). Once the rider's position is known (window.LocatorAlerts
 * .setPosition(lon, lat, crs), or a 'locator:origin' event on document with
 * {lon, lat, crs} in its detail) the banner asks GET /api/v1/alerts for that point,
 * shows the alert of the rider's district (or hides itself), and lists the nearest open
 * stations with air conditioning and drinking water (heat) or heating (cold) from
 * GET /api/v1/nearest.
 *
 * During an alert those amenities are the default filters: window.LocatorAlerts
 * .defaultFilters() returns them, and the amenity boxes of the form named by the
 * config's filterForm are ticked. The rider can switch them off with the banner's
 * checkbox (remembered per alert in localStorage).
 *
 * Everything from the API is put on the page with textContent / attributes, never as
 * HTML.
 */
(function () {
  'use strict';

  var cfgNode = document.getElementById('alert-config');
  var banner = document.getElementById('alert-banner');
  if (!cfgNode || !banner) { return; }
  var cfg = JSON.parse(cfgNode.textContent);
  var S = cfg.strings;
  var OFF_KEY = 'locatorAlertFiltersOff';

  var state = {
    alerts: cfg.alerts || [],
    district: cfg.district || null,
    point: cfg.point || null,
    ticked: [],     // amenity boxes this script ticked (and may untick)
    seq: 0,
    listeners: []
  };

  function byId(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }

  function fmt(template, vars) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m;
    });
  }

  function current() { return state.alerts.length ? state.alerts[0] : null; }

  // ------------------------------------------------------------ the rider's choice
  function offFor() {
    try { return window.localStorage.getItem(OFF_KEY) || ''; } catch (e) { return state.off || ''; }
  }

  function filtersEnabled() {
    var a = current();
    return !!a && offFor() !== String(a.id);
  }

  function remember(enabled) {
    var a = current();
    if (!a) { return; }
    var value = enabled ? '' : String(a.id);
    state.off = value;
    try {
      if (value) { window.localStorage.setItem(OFF_KEY, value); } else { window.localStorage.removeItem(OFF_KEY); }
    } catch (e) { /* private mode: kept for this page only */ }
  }

  function defaultFilters() {
    var a = current();
    return a && filtersEnabled() ? a.amenities.slice() : [];
  }

  // ------------------------------------------------------------ filters on the form
  function filterBoxes() {
    if (!cfg.filterForm) { return []; }
    var form = document.querySelector(cfg.filterForm);
    if (!form) { return []; }
    return Array.prototype.slice.call(form.querySelectorAll('input[name=amenity]'));
  }

  function applyFilters() {
    var want = defaultFilters();
    var changed = null;
    filterBoxes().forEach(function (box) {
      var on = want.indexOf(box.value) >= 0;
      var mine = state.ticked.indexOf(box.value) >= 0;
      if (on && !box.checked) {
        box.checked = true;
        state.ticked.push(box.value);
        changed = box;
      } else if (!on && mine && box.checked) {
        box.checked = false;
        changed = box;
      }
      if (!on && mine) { state.ticked.splice(state.ticked.indexOf(box.value), 1); }
    });
    // One change event (it bubbles to the form): the page recounts and searches again.
    if (changed) { changed.dispatchEvent(new Event('change', { bubbles: true })); }
  }

  // ------------------------------------------------------------ rendering
  function distanceText(d) {
    if (d < 1000) { return fmt(S.metres, { d: Math.round(d / 10) * 10 }); }
    return fmt(S.kilometres, { d: (d / 1000).toFixed(1) });
  }

  function whereText(a) {
    return a.districts.map(function (d) { return d.name; }).join(cfg.lang === 'en' ? ', ' : '、');
  }

  function renderBanner() {
    var a = current();
    if (!a) {
      banner.hidden = true;
      banner.removeAttribute('data-alert-id');
      document.body.removeAttribute('data-alert');
      return;
    }
    banner.hidden = false;
    banner.className = 'alert-banner alert-' + a.kind + ' alert-level-' + a.level;
    banner.setAttribute('data-alert-id', String(a.id));
    banner.setAttribute('data-kind', a.kind);
    banner.setAttribute('data-level', a.level);
    document.body.setAttribute('data-alert', a.kind + '-' + a.level);
    banner.querySelector('.alert-icon').textContent = a.kind === 'cold' ? '❄' : '☀';
    banner.querySelector('.alert-level').textContent = a.level_label;
    banner.querySelector('.alert-where').textContent = whereText(a);
    var end = String(a.ends_at);
    banner.querySelector('.alert-until').textContent = fmt(S.until, { t: end.slice(5, 10) + ' ' + end.slice(11, 16) });
    banner.querySelector('.alert-message').textContent = a.message;
    banner.querySelector('.alert-advice').textContent = a.advice;
    byId('alert-stations-title').textContent = S['stations_' + a.kind];
    byId('alert-filters-label').textContent = S['filters_' + a.kind];
    var toggle = byId('alert-filters');
    toggle.checked = filtersEnabled();
    byId('alert-filters-toggle').hidden = false;
  }

  function setStationsStatus(text) { byId('alert-stations-status').textContent = text || ''; }

  function renderStations(items) {
    var list = byId('alert-stations-list');
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (s) {
      var li = el('li', 'alert-station');
      li.setAttribute('data-station-id', s.id);
      var name = el('a', 'alert-station-name', s.name);
      name.href = cfg.stationPage + encodeURIComponent(s.id);
      li.appendChild(name);
      li.appendChild(el('span', 'alert-station-dist', distanceText(s.distance_m)));
      li.appendChild(el('span', 'alert-station-open open-' + s.open_status,
        S['open_' + s.open_status] || s.open_status));
      var nav = s.nav_links && s.nav_links.amap;
      if (nav) {
        var a = el('a', 'btn alert-station-nav', S.navigate);
        a.href = nav;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        li.appendChild(a);
      }
      list.appendChild(li);
    });
    banner.setAttribute('data-stations', String(items.length));
    setStationsStatus(items.length ? '' : S.none);
  }

  function fetchJson(url) {
    return window.fetch(url, { headers: { Accept: 'application/json' } }).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) { throw new Error(body.detail || body.title || String(resp.status)); }
        return body;
      });
    });
  }

  function loadStations(seq) {
    var a = current();
    var p = state.point;
    if (!a || !p) { return Promise.resolve(); }
    var q = new URLSearchParams();
    q.set('lon', String(p.lon));
    q.set('lat', String(p.lat));
    q.set('crs', p.crs || 'wgs84');
    q.set('k', String(cfg.k + 5));
    a.amenities.forEach(function (code) { q.append('amenity', code); });
    q.set('open_now', 'true');
    q.set('lang', cfg.lang === 'en' ? 'en' : 'zh');
    setStationsStatus(S.loading);
    return fetchJson(cfg.nearest + '?' + q.toString()).then(function (body) {
      if (seq !== state.seq) { return; }
      var items = body.results.filter(function (r) {
        return !r.reported_closed && r.open_status !== 'closed';
      }).slice(0, cfg.k);
      renderStations(items);
    }).catch(function () {
      if (seq !== state.seq) { return; }
      setStationsStatus(S.failed);
    });
  }

  function changed() {
    renderBanner();
    applyFilters();
    state.listeners.forEach(function (fn) {
      try { fn(current(), defaultFilters()); } catch (e) { /* a listener's own problem */ }
    });
  }

  // ------------------------------------------------------------ position
  function setPosition(lon, lat, crs) {
    var seq = ++state.seq;
    state.point = { lon: Number(lon), lat: Number(lat), crs: crs || 'wgs84' };
    var q = new URLSearchParams();
    q.set('lon', String(lon));
    q.set('lat', String(lat));
    q.set('crs', crs || 'wgs84');
    q.set('lang', cfg.lang === 'en' ? 'en' : 'zh');
    banner.setAttribute('data-state', 'busy');
    return fetchJson(cfg.api + '?' + q.toString()).then(function (body) {
      if (seq !== state.seq) { return; }
      state.alerts = body.alerts;
      state.district = body.district ? body.district.adcode : null;
      changed();
      return loadStations(seq);
    }).catch(function () {
      // Keep what the server rendered; the alert list is a courtesy, search goes on.
      if (seq === state.seq) { setStationsStatus(S.failed); }
    }).then(function () {
      if (seq === state.seq) { banner.setAttribute('data-state', 'done'); }
    });
  }

  function setDistrict(adcode) {
    var seq = ++state.seq;
    var q = new URLSearchParams();
    q.set('district', String(adcode));
    q.set('lang', cfg.lang === 'en' ? 'en' : 'zh');
    return fetchJson(cfg.api + '?' + q.toString()).then(function (body) {
      if (seq !== state.seq) { return; }
      state.alerts = body.alerts;
      state.district = String(adcode);
      changed();
      if (!state.point) { setStationsStatus(current() ? S.locate_first : ''); }
    }).catch(function () { /* keep the banner as it is */ });
  }

  function setFiltersEnabled(enabled) {
    remember(!!enabled);
    var toggle = byId('alert-filters');
    if (toggle) { toggle.checked = filtersEnabled(); }
    applyFilters();
    state.listeners.forEach(function (fn) {
      try { fn(current(), defaultFilters()); } catch (e) { /* ignore */ }
    });
  }

  byId('alert-filters').addEventListener('change', function (e) {
    setFiltersEnabled(e.target.checked);
  });

  document.addEventListener('locator:origin', function (e) {
    var d = e.detail || {};
    if (isFinite(d.lon) && isFinite(d.lat)) { setPosition(d.lon, d.lat, d.crs); }
  });

  window.LocatorAlerts = {
    /** The alert shown (the most severe one for the rider's district), or null. */
    current: current,
    /** Every active alert that applies, most severe first. */
    active: function () { return state.alerts.slice(); },
    /** Amenity codes to filter on by default now: the alert's, unless switched off. */
    defaultFilters: defaultFilters,
    filtersEnabled: filtersEnabled,
    setFiltersEnabled: setFiltersEnabled,
    setPosition: setPosition,
    setDistrict: setDistrict,
    /** fn(alert, defaultFilters) after every change of the alert or of the filters. */
    onChange: function (fn) { state.listeners.push(fn); }
  };

  // ------------------------------------------------------------ start
  renderBanner();
  applyFilters();
  if (current() && state.point && !banner.querySelector('.alert-station')) {
    loadStations(state.seq);
  }
}());
