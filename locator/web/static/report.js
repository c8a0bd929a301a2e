/*
 * The report form with JavaScript: show only the parts the chosen kind needs, pick a
 * corrected position on the map (a tap sets a marker and the hidden lon/lat, in the
 * map's CRS, which is sent along as crs), and send the report as JSON to the API,
 * then show its reference number and status link in place.
 *
 * Without this script the form posts to the page itself and works the same.
 * Everything from the server is put on the page with textContent / attributes only.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('report-config').textContent);
  var S = cfg.strings;
  var byId = function (id) { return document.getElementById(id); };
  var form = byId('report-form');
  var statusBox = byId('report-status');
  var sendBtn = byId('report-send');
  var lonInput = byId('r-lon');
  var latInput = byId('r-lat');
  var crsInput = byId('r-crs');
  var pickHint = byId('pick-hint');
  var parts = form.querySelectorAll('.part');
  var picked = null;
  var pickMap = null;

  function kind() {
    var checked = form.querySelector('input[name=kind]:checked');
    return checked ? checked.value : '';
  }

  function setStatus(text, cls) {
    statusBox.textContent = text || '';
    statusBox.className = 'status' + (cls ? ' ' + cls : '');
  }

  function showParts() {
    var k = kind();
    for (var i = 0; i < parts.length; i++) {
      parts[i].hidden = parts[i].getAttribute('data-kind') !== k;
    }
    if (k === 'not_here' && pickMap) { pickMap.invalidateSize(); }
  }

  form.addEventListener('change', function (e) {
    if (e.target && e.target.name === 'kind') { showParts(); }
  });
  showParts();

  window.LocatorMaps.onMap('report-pick', function (entry) {
    pickMap = entry.map;
    crsInput.value = entry.crs || 'wgs84';
    pickMap.on('click', function (e) {
      var lon = e.latlng.lng, lat = e.latlng.lat;
      if (picked) { picked.setLatLng(e.latlng); } else {
        picked = L.marker(e.latlng, { keyboard: false }).addTo(pickMap);
      }
      lonInput.value = lon.toFixed(7);
      latInput.value = lat.toFixed(7);
      pickMap.getContainer().setAttribute('data-picked', '1');
      pickHint.textContent = S.picked + lon.toFixed(6) + ', ' + lat.toFixed(6);
    });
    if (kind() === 'not_here') { pickMap.invalidateSize(); }
  });

  function clearInvalid() {
    var marked = form.querySelectorAll('[aria-invalid=true]');
    for (var i = 0; i < marked.length; i++) { marked[i].removeAttribute('aria-invalid'); }
  }

  function markInvalid(name) {
    var target = form.querySelector('[name="' + name + '"]');
    if (name === 'lon' || name === 'lat') { target = byId('pick-hint'); }
    if (target) {
      target.setAttribute('aria-invalid', 'true');
      if (target.focus) { target.focus(); }
    }
  }

  function body() {
    var k = kind();
    var out = { station_id: cfg.stationId, kind: k, lang: cfg.lang };
    var note = form.elements.note.value.trim();
    if (note) { out.note = note; }
    if (k === 'amenity') { out.amenity = form.elements.amenity.value; }
    if (k === 'not_here' && lonInput.value && latInput.value) {
      out.lon = Number(lonInput.value);
      out.lat = Number(latInput.value);
      out.crs = crsInput.value || 'wgs84';
    }
    return out;
  }

  function done(rep) {
    form.hidden = true;
    var box = byId('report-done');
    byId('done-ref').textContent = rep.ref;
    byId('done-status').textContent = rep.status_label;
    var link = byId('done-link');
    link.href = rep.status_url;
    link.setAttribute('data-ref', rep.ref);
    box.hidden = false;
    box.scrollIntoView({ block: 'start' });
  }

  form.addEventListener('submit', function (e) {
    if (!window.fetch) { return; }  // the plain form post
    e.preventDefault();
    clearInvalid();
    setStatus(S.sending, 'busy');
    sendBtn.disabled = true;
    window.fetch(cfg.api + '?lang=' + encodeURIComponent(cfg.lang), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body()),
      credentials: 'same-origin'
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; },
        function () { return { ok: false, data: { detail: String(r.status) } }; });
    }).then(function (res) {
      sendBtn.disabled = false;
      if (res.ok) {
        setStatus('', null);
        done(res.data);
        return;
      }
      var d = res.data || {};
      setStatus(S.failed + (d.detail || ''), 'error');
      if (d.invalid_params && d.invalid_params.length) { markInvalid(d.invalid_params[0].name); }
    }).catch(function () {
      sendBtn.disabled = false;
      setStatus(S.offline, 'error');
    });
  });
}());
