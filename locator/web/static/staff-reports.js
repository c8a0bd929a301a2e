/* Buttons with data-confirm (closing a station) ask before they submit. */
(function () {
  'use strict';
  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest ? ev.target.closest('button[data-confirm]') : null;
    if (btn && !window.confirm(btn.getAttribute('data-confirm'))) { ev.preventDefault(); }
  });
}());

/* The review queue's map: each station (its recorded position) and the positions riders
 * gave instead, joined by a dashed line; "Show on the map" fits the map to one station.
 * Labels are set as text (never parsed as HTML). Points come in the map's CRS. */
(function () {
  'use strict';
  var cfgEl = document.getElementById('reports-map-config');
  if (!cfgEl || !window.LocatorMaps) { return; }
  var cfg = JSON.parse(cfgEl.textContent);

  LocatorMaps.onMap(cfg.mapKey, function (entry) {
    var map = entry.map;
    var all = [];
    var bySid = {};
    cfg.points.forEach(function (p) {
      var group = [[p.lat, p.lon]];
      p.fixes.forEach(function (f) { group.push([f.lat, f.lon]); });
      bySid[p.sid] = group;
      all = all.concat(group);
    });
    // Fit first, then draw: the canvas renderer sizes itself to the view it draws in.
    if (all.length) {
      map.fitBounds(L.latLngBounds(all), { padding: [40, 40], maxZoom: 16, animate: false });
    }
    cfg.points.forEach(function (p) {
      var here = [p.lat, p.lon];
      p.fixes.forEach(function (f) {
        var there = [f.lat, f.lon];
        L.polyline([here, there], { color: cfg.fixColor, weight: 2, dashArray: '4 4',
                                    interactive: false }).addTo(map);
        L.circleMarker(there, { radius: 6, color: '#ffffff', weight: 2,
                                fillColor: cfg.fixColor, fillOpacity: 1 }).addTo(map)
          .bindTooltip(LocatorMaps.el('span', 'pin-label', f.label), { direction: 'top' });
      });
      L.circleMarker(here, { radius: 9, color: '#ffffff', weight: 3, fillColor: p.color,
                             fillOpacity: 1 }).addTo(map)
        .bindTooltip(LocatorMaps.el('span', 'pin-label', p.label), { direction: 'top' });
    });
    map.getContainer().setAttribute('data-marker-count', String(cfg.points.length));
    document.querySelectorAll('button.show-on-map').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var pts = bySid[btn.getAttribute('data-sid')];
        if (!pts) { return; }
        map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], maxZoom: 17 });
        map.getContainer().scrollIntoView({ behavior: 'smooth', block: 'center' });
      });
    });
    document.body.setAttribute('data-map-ready', '1');
  });
}());
