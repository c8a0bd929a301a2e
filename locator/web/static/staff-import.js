/*
 * The staff import pages: the preview map (where the first rows land in the chosen
 * coordinate system, where they would land in the others, and the stored stations
 * nearby) and the progress bar of a running import (polls the status endpoint).
 * Every text is set with textContent; nothing from the file is parsed as HTML.
 */
(function () {
  'use strict';

  var ACTION_COLORS = { create: '#2b8a3e', update: '#1864ab', unchanged: '#868e96' };
  var ALT_COLORS = { wgs84: '#e8590c', gcj02: '#d6336c', bd09: '#7048e8' };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // ------------------------------------------------------------ preview map
  function drawPreview(entry, data) {
    var map = entry.map;
    var labels = data.labels || {};
    var bounds = [];
    (data.existing || []).forEach(function (s) {
      L.circleMarker([s[2], s[1]], { radius: 4, color: '#495057', weight: 1,
        fillColor: '#adb5bd', fillOpacity: 0.9 }).bindTooltip(el('span', null, s[0])).addTo(map);
    });
    Object.keys(data.alternatives || {}).forEach(function (crs) {
      data.alternatives[crs].forEach(function (p) {
        L.circleMarker([p[1], p[0]], { radius: 6, color: ALT_COLORS[crs] || '#495057',
          weight: 2, dashArray: '3 3', fill: false, interactive: false }).addTo(map);
        bounds.push([p[1], p[0]]);
      });
    });
    (data.rows || []).forEach(function (r) {
      var m = L.circleMarker([r.lat, r.lon], { radius: 7, color: '#ffffff', weight: 2,
        fillColor: ACTION_COLORS[r.action] || '#495057', fillOpacity: 1 }).addTo(map);
      var tip = el('span', 'pin-label');
      tip.appendChild(el('span', null, (labels.row || '%d').replace('%d', r.row) + ' · '));
      tip.appendChild(el('span', null, r.name));
      if (r.district) { tip.appendChild(el('span', null, ' · ' + r.district)); }
      m.bindTooltip(tip);
      bounds.push([r.lat, r.lon]);
    });
    map.getContainer().setAttribute('data-marker-count', String((data.rows || []).length));
    if (bounds.length) { map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16 }); }
    var Legend = L.Control.extend({
      options: { position: 'bottomright' },
      onAdd: function () {
        var box = el('div', 'locator-legend import-legend');
        box.appendChild(el('strong', null, labels.title || ''));
        var list = el('ul');
        ['create', 'update', 'unchanged'].forEach(function (a) {
          var li = el('li');
          var sw = el('span', 'swatch');
          sw.style.background = ACTION_COLORS[a];
          li.appendChild(sw);
          li.appendChild(el('span', null, labels[a] || a));
          list.appendChild(li);
        });
        Object.keys(data.alternatives || {}).forEach(function (crs) {
          var li = el('li');
          var sw = el('span', 'swatch swatch-hollow');
          sw.style.borderColor = ALT_COLORS[crs];
          li.appendChild(sw);
          li.appendChild(el('span', null, labels['alt_' + crs] || crs));
          list.appendChild(li);
        });
        var ex = el('li');
        var esw = el('span', 'swatch');
        esw.style.background = '#adb5bd';
        ex.appendChild(esw);
        ex.appendChild(el('span', null, labels.existing || ''));
        list.appendChild(ex);
        box.appendChild(list);
        return box;
      }
    });
    new Legend().addTo(map);
  }

  var dataNode = document.getElementById('import-preview-data');
  if (dataNode && window.LocatorMaps) {
    var data = JSON.parse(dataNode.textContent);
    window.LocatorMaps.onMap('import-preview', function (entry) { drawPreview(entry, data); });
  }

  // ------------------------------------------------------------ progress
  var job = document.getElementById('import-job');
  if (!job || job.getAttribute('data-state') !== 'running') { return; }
  var url = job.getAttribute('data-status-url');
  var bar = document.getElementById('import-progress');
  var pct = document.getElementById('import-percent');
  var stage = document.getElementById('import-stage');
  var box = document.getElementById('import-progress-box');
  var done = document.getElementById('import-result');
  var failed = document.getElementById('import-failed');

  function show(st) {
    if (typeof st.percent === 'number') {
      bar.value = st.percent;
      bar.textContent = st.percent + '%';
      pct.textContent = st.percent + '%';
    }
    if (st.stage_label) { stage.textContent = st.stage_label; }
    job.setAttribute('data-state', st.state);
    if (st.state === 'done') {
      box.hidden = true;
      done.textContent = job.getAttribute('data-done-prefix') + (st.summary || '');
      done.classList.add('ok');
      done.hidden = false;
      return true;
    }
    if (st.state === 'failed') {
      box.hidden = true;
      failed.textContent = job.getAttribute('data-failed-prefix') + (st.message || '');
      failed.hidden = false;
      return true;
    }
    return false;
  }

  function poll() {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (st) { if (!show(st)) { setTimeout(poll, 400); } })
      .catch(function () { setTimeout(poll, 1500); });
  }
  poll();
}());
