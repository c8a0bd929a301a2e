/*
 * The planner page's form. The page itself is rendered by the server (it works
 * without JavaScript); this script only adds the time shortcuts ("now", 22:00, any
 * time), a busy note while a run is computed, and a "show the reach" button in each
 * station's popup, which draws that station's isochrone (road network) or circle
 * (straight line) from GET /api/v1/reach. The map is drawn by the LocatorCoverage
 * script that the page inlines (shared with the HTML report).
 */
(function () {
  'use strict';

  var byId = function (id) { return document.getElementById(id); };
  var form = byId('planner-form');
  if (!form) { return; }
  var cfg = JSON.parse(byId('planner-config').textContent);
  var at = byId('p-at');
  var statusBox = byId('planner-status');
  var submit = byId('p-submit');

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // The server reads the time as Beijing time (Asia/Shanghai, UTC+8), whatever the
  // browser's own time zone is.
  function beijingNow() {
    var d = new Date(Date.now() + 8 * 3600 * 1000);
    return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate(),
             h: d.getUTCHours(), min: d.getUTCMinutes() };
  }

  function setAt(h, min) {
    var t = beijingNow();
    if (h === undefined) { h = t.h; min = t.min; }
    at.value = t.y + '-' + pad(t.m) + '-' + pad(t.d) + 'T' + pad(h) + ':' + pad(min);
  }

  byId('p-now').addEventListener('click', function () { setAt(); });
  byId('p-2200').addEventListener('click', function () { setAt(22, 0); });
  byId('p-any').addEventListener('click', function () { at.value = ''; });

  form.addEventListener('submit', function () {
    statusBox.textContent = cfg.busy;
    statusBox.className = 'status busy';
    submit.disabled = true;
  });
  // Coming back with the browser's back button must not leave the button disabled.
  window.addEventListener('pageshow', function () { submit.disabled = false; });

  // ---------------------------------------------------------------- a station's reach
  var box = document.querySelector('.coverage-map');
  var cov = box && box.locatorCoverage;
  if (!cfg.reach || !cov || !cov.layers.stations) { return; }
  var R = cfg.reach;
  var reachLayer = L.geoJSON(null, {
    interactive: false,
    style: function () { return { color: '#1864ab', weight: 2, fillColor: '#4dabf7', fillOpacity: 0.25 }; }
  }).addTo(cov.map);
  cov.layers.stationReach = reachLayer;

  function reachUrl(what) {
    var q = [what, 'minutes=' + encodeURIComponent(R.minutes),
             'mode=' + encodeURIComponent(R.mode), 'engine=' + encodeURIComponent(R.engine),
             'crs=' + encodeURIComponent(R.crs), 'lang=' + encodeURIComponent(R.lang)];
    return R.url + '?' + q.join('&');
  }

  function showReach(what, key, button, note) {
    button.disabled = true;
    note.textContent = cfg.reach_busy;
    box.setAttribute('data-reach', 'loading');
    fetch(reachUrl(what), { headers: { Accept: 'application/geo+json' } })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      })
      .then(function (res) {
        if (!res.ok) { throw new Error(res.body.detail || res.body.title || 'error'); }
        reachLayer.clearLayers();
        reachLayer.addData(res.body);
        if (res.body.attribution) { cov.map.attributionControl.addAttribution(res.body.attribution); }
        // The reach is shown where it can be seen: at the city's zoom a 15-minute
        // circle is a dot of a pixel or two.
        var bounds = reachLayer.getBounds();
        if (bounds.isValid()) { cov.map.fitBounds(bounds, { padding: [24, 24], animate: false }); }
        note.textContent = cfg.reach_shown;
        box.setAttribute('data-reach', key);
      })
      .catch(function (e) {
        note.textContent = cfg.reach_failed + e.message;
        box.setAttribute('data-reach', 'failed');
      })
      .then(function () { button.disabled = false; });
  }

  // A "show the reach" button in the popups of a layer's markers; ``query`` gives a
  // marker's reach query ('id=...' for a station, 'point=lon,lat' for a suggested site).
  function reachButtons(layer, query) {
    if (!layer) { return; }
    layer.on('popupopen', function (e) {
      var what = query(e.layer);
      var content = e.popup.getContent();
      if (!what || !content || content.querySelector('.reach-btn')) { return; }
      var button = LocatorCoverage.el('button', 'btn reach-btn', cfg.reach_show);
      button.type = 'button';
      var note = LocatorCoverage.el('div', 'reach-note');
      note.setAttribute('role', 'status');
      button.addEventListener('click', function () { showReach(what.q, what.key, button, note); });
      content.appendChild(button);
      content.appendChild(note);
      e.popup.update();
    });
  }

  reachButtons(cov.layers.stations, function (m) {
    return m.stationId === undefined ? null
      : { q: 'id=' + encodeURIComponent(m.stationId), key: m.stationId };
  });
  reachButtons(cov.layers.sites, function (m) {
    return !m.sitePoint ? null
      : { q: 'point=' + encodeURIComponent(m.sitePoint[0] + ',' + m.sitePoint[1]),
          key: 'site-' + m.siteId };
  });
}());
