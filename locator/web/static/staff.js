/*
 * The staff station form: a marker to place by tapping the map or dragging, the
 * district filled in from the boundaries as it moves, pasted coordinates in any CRS,
 * the opening-hours preview and a live duplicate warning.
 *
 * The server does every conversion: a tap on the map is sent in the map's own CRS
 * (GCJ-02 on Amap tiles) and /staff/api/district answers with the point in every
 * CRS and in the map's. The form stays a plain POST form: without this script it
 * still saves (without the map). All text is set with textContent.
 */
(function () {
  'use strict';

  var cfgNode = document.getElementById('staff-form-config');
  if (!cfgNode) { return; }
  var cfg = JSON.parse(cfgNode.textContent);
  var S = cfg.strings;
  var $ = function (id) { return document.getElementById(id); };
  var lonIn = $('f-lon'), latIn = $('f-lat'), crsIn = $('f-crs');
  var districtIn = $('f-district'), autoIn = $('f-district-auto');
  var noteOut = $('district-note'), coordsOut = $('coords-out');
  var hoursIn = $('f-hours'), hoursOut = $('hours-preview');
  var nameIn = $('f-name'), typeIn = $('f-type'), dupOut = $('dup-live');
  var entry = null, marker = null, seq = 0, dupSeq = 0;

  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  function getJSON(url, params) {
    var q = new URLSearchParams(params);
    var sep = url.indexOf('?') >= 0 ? '&' : '?';
    return fetch(url + sep + q.toString(), { credentials: 'same-origin',
      headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || r.statusText); }
        return body;
      });
    });
  }

  function fmt(pair) { return pair[0].toFixed(6) + ', ' + pair[1].toFixed(6); }

  function showCoords(p) {
    coordsOut.textContent = '';
    coordsOut.appendChild(LocatorMaps.el('strong', null, S.coords + ' '));
    [['WGS-84', p.wgs84], ['GCJ-02', p.gcj02], ['BD-09', p.bd09]].forEach(function (row) {
      coordsOut.appendChild(LocatorMaps.el('span', 'crs-pair', row[0] + ' ' + fmt(row[1])));
    });
  }

  function setDistrict(d) {
    if (autoIn.value !== '1') { return; }
    districtIn.value = d ? d.adcode : '';
    noteOut.textContent = S.autoDistrict + (d ? d.name : S.noDistrict);
    districtIn.setAttribute('data-filled', d ? d.adcode : 'none');
  }

  function placeMarker(mapPair) {
    if (!entry) { return; }
    var ll = L.latLng(mapPair[1], mapPair[0]);
    if (!marker) {
      marker = L.marker(ll, { draggable: true, keyboard: true, title: cfg.markerTitle || '',
        icon: L.divIcon({ className: 'staff-pin', iconSize: [22, 22], iconAnchor: [11, 11] }) });
      marker.on('dragend', function () {
        var p = marker.getLatLng();
        fromMap(p.lng, p.lat);
      });
      marker.addTo(entry.map);
    } else {
      marker.setLatLng(ll);
    }
    entry.map.getContainer().setAttribute('data-marker', fmt(mapPair));
  }

  // A point in `crs`: ask the server for it in every CRS and for its district.
  // `initial`: the stored position as the page opened (leave district and warnings be).
  function locate(lon, lat, crs, moveMarker, initial) {
    var mine = ++seq;
    return getJSON(cfg.api.district, { lon: lon, lat: lat, crs: crs,
                                       map_crs: cfg.mapCrs }).then(function (p) {
      if (mine !== seq) { return; }
      showCoords(p);
      if (initial) { return; }
      setDistrict(p.district);
      if (moveMarker) {
        placeMarker(p.map);
        entry && entry.map.panTo(L.latLng(p.map[1], p.map[0]));
      }
      checkDuplicates();
    }).catch(function (e) {
      if (mine !== seq) { return; }
      coordsOut.textContent = S.badCoords + e.message;
    });
  }

  function fromMap(lon, lat) {
    lonIn.value = lon.toFixed(7);
    latIn.value = lat.toFixed(7);
    crsIn.value = cfg.mapCrs;
    return locate(lonIn.value, latIn.value, cfg.mapCrs, false);
  }

  var typed = debounce(function () {
    if (lonIn.value.trim() && latIn.value.trim()) {
      locate(lonIn.value.trim(), latIn.value.trim(), crsIn.value, true);
    }
  }, 400);
  [lonIn, latIn].forEach(function (i) { i.addEventListener('input', typed); });
  crsIn.addEventListener('change', typed);
  // A pasted "117.23, 34.24" in the longitude box fills both fields.
  lonIn.addEventListener('paste', function (ev) {
    var text = (ev.clipboardData || window.clipboardData).getData('text') || '';
    var m = text.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/);
    if (m) {
      ev.preventDefault();
      lonIn.value = m[1];
      latIn.value = m[2];
      typed();
    }
  });

  districtIn.addEventListener('change', function () {
    autoIn.value = '0';
    noteOut.textContent = S.manualDistrict;
  });

  // ---------------------------------------------------------------- hours
  var hoursCheck = debounce(function () {
    var spec = hoursIn.value;
    getJSON(cfg.api.hours, { spec: spec }).then(function (p) {
      if (hoursIn.value !== spec) { return; }
      hoursOut.textContent = '';
      hoursOut.className = 'hours-preview ' + (p.valid ? 'ok' : 'bad');
      hoursIn.setAttribute('aria-invalid', p.valid ? 'false' : 'true');
      if (!p.valid) {
        hoursOut.appendChild(LocatorMaps.el('span', 'field-error', p.error));
        return;
      }
      if (!spec.trim()) { return; }
      hoursOut.appendChild(LocatorMaps.el('span', 'hours-text', S.hoursOk + p.text));
      var state = LocatorMaps.el('span', 'open-now open-' + p.open_now,
        S.openNow + ' ' + (S[p.open_now] || p.open_now));
      hoursOut.appendChild(state);
      if (p.next_change_text) {
        hoursOut.appendChild(LocatorMaps.el('span', 'next-change',
          S.nextChange + p.next_change_text));
      }
    }).catch(function (e) { hoursOut.textContent = S.failed + e.message; });
  }, 300);
  hoursIn.addEventListener('input', hoursCheck);
  if (hoursIn.value) { hoursCheck(); }

  // ---------------------------------------------------------------- duplicates
  var checkDuplicates = debounce(function () {
    if (!lonIn.value.trim() || !latIn.value.trim()) { return; }
    var mine = ++dupSeq;
    getJSON(cfg.api.duplicates, { lon: lonIn.value.trim(), lat: latIn.value.trim(),
      crs: crsIn.value, name: nameIn.value, type: typeIn.value,
      exclude: cfg.exclude }).then(function (body) {
      if (mine !== dupSeq) { return; }
      dupOut.textContent = '';
      dupOut.hidden = body.hits.length === 0;
      if (!body.hits.length) { return; }
      dupOut.appendChild(LocatorMaps.el('strong', null, S.dupTitle));
      var ul = LocatorMaps.el('ul');
      body.hits.forEach(function (h) { ul.appendChild(LocatorMaps.el('li', null, h.message)); });
      dupOut.appendChild(ul);
    }).catch(function () { dupOut.hidden = true; });
  }, 400);
  nameIn.addEventListener('input', checkDuplicates);
  typeIn.addEventListener('change', checkDuplicates);

  // ---------------------------------------------------------------- map
  LocatorMaps.onMap(cfg.mapKey, function (e) {
    entry = e;
    // Clicks arrive in the map's CRS (the entry's), which the server converts.
    cfg.mapCrs = e.crs || cfg.mapCrs;
    e.map.on('click', function (ev) {
      placeMarker([ev.latlng.lng, ev.latlng.lat]);
      fromMap(ev.latlng.lng, ev.latlng.lat);
    });
    if (cfg.marker) {
      placeMarker(cfg.marker);
      locate(lonIn.value, latIn.value, crsIn.value, false, true);
    }
    document.body.setAttribute('data-map-ready', '1');
  });
}());
