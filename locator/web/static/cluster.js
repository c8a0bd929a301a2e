/*
 * A small marker-clustering layer for many stations (no third-party plugin).
 *
 * Grid clustering in screen pixels: on every moveend (zoomend included) the
 * stations inside the view, plus a margin, are put into square cells of CELL
 * pixels. A cell with one station draws a circle marker on a canvas; a cell
 * with several draws one count bubble (a DOM marker) at their mean position.
 * Markers whose tap areas (at least 44 x 44 px) would overlap, across cell borders
 * or at the highest zooms, are then merged into one bubble, so that every marker
 * drawn can be tapped on its own and no station hides under another.
 * Clicking a bubble zooms to its stations, or, when they share one spot, lists
 * them. Only what is on screen is ever drawn, so the cost per redraw is one
 * pass over plain typed arrays plus a few hundred markers, whatever the total.
 *
 * Data (see locator/web/maps.py, station_payload): rows of
 * [id, name, type index, lon, lat, amenity bitmask, hours index, open-state index]
 * in the map's CRS, and reported_closed: the row indices of stations riders report
 * closed (drawn dashed, marked in the popup). ``hours`` holds the opening hours in
 * plain words (never the raw OSM value). Popups are built with textContent only.
 */
(function (global) {
  'use strict';

  var CELL = 64;          // grid cell size in screen pixels
  var SINGLE_ZOOM = 17;   // from this zoom on, every station is drawn on its own
  var LIST_MAX = 30;      // names listed for a bubble whose stations share one spot
  var HIT = 22;           // tap radius of a single station (a 44-px target), px
  var DOT = 7;            // drawn radius of a single station, px
  var MERGE_PASSES = 8;   // rounds of merging overlapping markers (each round re-checks)

  // Drawn and tap sizes of a bubble of n stations, px (the tap area is >= 44 px).
  function bubbleSize(n) { return n < 10 ? 30 : n < 100 ? 36 : n < 1000 ? 44 : 52; }
  function hitRadius(n) { return n === 1 ? HIT : Math.max(44, bubbleSize(n)) / 2; }
  var MAX_HIT = hitRadius(1000);

  var el = function (tag, cls, text) { return global.LocatorMaps.el(tag, cls, text); };

  // Popups pan clear of the map's corner controls (zoom, layers, legend), which
  // would otherwise cover their title or buttons.
  function popupOptions(extra) {
    var o = { autoPanPaddingTopLeft: L.point(16, 112), autoPanPaddingBottomRight: L.point(16, 64) };
    for (var k in extra) { if (Object.prototype.hasOwnProperty.call(extra, k)) { o[k] = extra[k]; } }
    return o;
  }

  function Cluster(map, data, options) {
    this.map = map;
    this.data = data;
    this.opts = options || {};
    this.strings = this.opts.strings || {};
    var rows = data.rows;
    var n = rows.length;
    this.n = n;
    this.x = new Float64Array(n);
    this.y = new Float64Array(n);
    this.t = new Uint8Array(n);
    for (var i = 0; i < n; i++) {
      var p = map.project([rows[i][4], rows[i][3]], 0);
      this.x[i] = p.x;
      this.y[i] = p.y;
      this.t[i] = rows[i][2];
    }
    this.enabled = new Uint8Array(data.types.length);
    for (var k = 0; k < this.enabled.length; k++) { this.enabled[k] = 1; }
    this.byId = null;
    this.flagged = new Set(data.reported_closed || []);  // riders report it closed
    if (!map.getPane('stationPane')) {
      map.createPane('stationPane').style.zIndex = 450;
    }
    // tolerance: a tap within HIT px of a dot's centre hits it (radius + stroke + 14)
    this.renderer = L.canvas({ padding: 0.2, pane: 'stationPane', tolerance: HIT - DOT - 1 });
    this.group = L.layerGroup().addTo(map);
    this.pending = false;
    this.drawn = 0;
    map.on('moveend', this.schedule, this);
    this.redraw();
  }

  Cluster.prototype.schedule = function () {
    if (this.pending) { return; }
    this.pending = true;
    var self = this;
    var run = function () { self.pending = false; self.redraw(); };
    if (global.requestAnimationFrame) { global.requestAnimationFrame(run); } else { setTimeout(run, 16); }
  };

  Cluster.prototype.color = function (t) {
    var row = this.data.types[t];
    return row ? row[2] : '#495057';
  };

  Cluster.prototype.redraw = function () {
    var map = this.map;
    var z = map.getZoom();
    var s = map.getZoomScale(z, 0);
    var pb = map.getPixelBounds();
    var minx = pb.min.x - CELL, maxx = pb.max.x + CELL;
    var miny = pb.min.y - CELL, maxy = pb.max.y + CELL;
    var cell = z >= SINGLE_ZOOM ? 0 : CELL;
    var cells = new Map();
    var singles = [];
    var x = this.x, y = this.y, t = this.t, on = this.enabled;
    var visible = 0;
    for (var i = 0; i < this.n; i++) {
      if (!on[t[i]]) { continue; }
      var px = x[i] * s;
      if (px < minx || px > maxx) { continue; }
      var py = y[i] * s;
      if (py < miny || py > maxy) { continue; }
      visible += 1;
      if (cell === 0) { singles.push(i); continue; }
      var key = Math.floor(px / cell) * 1e7 + Math.floor(py / cell);
      var c = cells.get(key);
      if (c === undefined) {
        c = { members: [], sx: 0, sy: 0, x0: px, x1: px, y0: py, y1: py, types: 0 };
        cells.set(key, c);
      }
      c.members.push(i);
      c.sx += px; c.sy += py;
      if (px < c.x0) { c.x0 = px; } else if (px > c.x1) { c.x1 = px; }
      if (py < c.y0) { c.y0 = py; } else if (py > c.y1) { c.y1 = py; }
      c.types |= 1 << t[i];
    }
    var groups = [];
    cells.forEach(function (c) { groups.push(c); });
    for (var si = 0; si < singles.length; si++) {
      var k0 = singles[si];
      var qx = x[k0] * s, qy = y[k0] * s;
      groups.push({ members: [k0], sx: qx, sy: qy, x0: qx, x1: qx, y0: qy, y1: qy,
                    types: 1 << t[k0] });
    }
    groups = mergeOverlaps(groups);
    this.group.clearLayers();
    var drawn = [];
    for (var g = 0; g < groups.length; g++) {
      var grp = groups[g];
      var n = grp.members.length;
      var layer = n === 1 ? this.single(grp.members[0]) : this.bubble(grp, z);
      this.group.addLayer(layer);
      var cp = map.latLngToContainerPoint(n === 1 ? this.latLng(grp.members[0]) : layer.getLatLng());
      drawn.push({ x: cp.x, y: cp.y, r: hitRadius(n), n: n });
    }
    this.drawnList = drawn;
    this.drawn = drawn.length;
    var box = map.getContainer();
    box.setAttribute('data-marker-count', String(drawn.length));
    box.setAttribute('data-visible-stations', String(visible));
  };

  // Merge groups (cells or single stations, in world pixels of the current zoom) whose
  // tap areas overlap, until none do. A sweep over x finds the candidates; a round
  // that merged something is followed by another, since a merged group moves and grows.
  function mergeOverlaps(groups) {
    for (var pass = 0; pass < MERGE_PASSES; pass++) {
      for (var i = 0; i < groups.length; i++) {
        var c = groups[i];
        c.cx = c.sx / c.members.length;
        c.cy = c.sy / c.members.length;
      }
      groups.sort(function (a, b) { return a.cx - b.cx; });
      var dead = new Uint8Array(groups.length);
      var merged = false;
      var out = [];
      for (var a = 0; a < groups.length; a++) {
        if (dead[a]) { continue; }
        var ga = groups[a];
        var key = ga.cx;
        var ra = hitRadius(ga.members.length);
        for (var b = a + 1; b < groups.length; b++) {
          if (dead[b]) { continue; }
          var gb = groups[b];
          if (gb.cx - key >= ra + MAX_HIT + Math.abs(ga.cx - key)) { break; }
          var rb = hitRadius(gb.members.length);
          var dx = gb.cx - ga.cx, dy = gb.cy - ga.cy;
          if (dx * dx + dy * dy < (ra + rb) * (ra + rb)) {
            absorb(ga, gb);
            dead[b] = 1;
            merged = true;
            ra = hitRadius(ga.members.length);
          }
        }
        out.push(ga);
      }
      groups = out;
      if (!merged) { break; }
    }
    return groups;
  }

  function absorb(into, other) {
    for (var i = 0; i < other.members.length; i++) { into.members.push(other.members[i]); }
    into.sx += other.sx; into.sy += other.sy;
    into.x0 = Math.min(into.x0, other.x0); into.x1 = Math.max(into.x1, other.x1);
    into.y0 = Math.min(into.y0, other.y0); into.y1 = Math.max(into.y1, other.y1);
    into.types |= other.types;
    into.cx = into.sx / into.members.length;
    into.cy = into.sy / into.members.length;
  }

  Cluster.prototype.latLng = function (i) {
    var row = this.data.rows[i];
    return L.latLng(row[4], row[3]);
  };

  Cluster.prototype.single = function (i) {
    var flagged = this.flagged.has(i);
    var m = L.circleMarker(this.latLng(i), {
      renderer: this.renderer, radius: DOT, color: flagged ? '#a51111' : '#ffffff',
      weight: flagged ? 3 : 2, dashArray: flagged ? '3 2' : null,
      fillColor: this.color(this.t[i]), fillOpacity: flagged ? 0.5 : 0.95
    });
    var self = this;
    m.on('click', function () { self.openPopup(i); });
    return m;
  };

  Cluster.prototype.bubble = function (c, z) {
    var n = c.members.length;
    var size = bubbleSize(n);
    var hit = Math.max(44, size);  // the tap area; the drawn bubble may be smaller
    var inner = el('div', 'st-cluster-inner', n);
    inner.style.setProperty('--bubble', size + 'px');
    // One type only: its colour; a mix: neutral.
    var single = (c.types & (c.types - 1)) === 0;
    if (single) { inner.style.background = this.color(this.t[c.members[0]]); }
    var icon = L.divIcon({ html: inner, className: 'st-cluster' + (single ? '' : ' st-cluster-mixed'),
                           iconSize: [hit, hit] });
    var center = this.map.unproject(L.point(c.sx / n, c.sy / n), z);
    var label = (this.strings.cluster || '{n}').replace('{n}', String(n));
    var marker = L.marker(center, { icon: icon, title: label, alt: label, keyboard: true });
    var self = this;
    marker.on('click', function () { self.zoomTo(c, z, center); });
    return marker;
  };

  Cluster.prototype.zoomTo = function (c, z, center) {
    var map = this.map;
    var spread = Math.max(c.x1 - c.x0, c.y1 - c.y0);
    // List the stations when zooming in cannot tell them apart: they would still be
    // closer than two tap areas at the deepest zoom (tiles stop at 19 at the latest).
    var deepest = Math.min(map.getMaxZoom(), 19);
    if (spread < 2 || z >= deepest || spread * Math.pow(2, deepest - z) < 2 * HIT) {
      this.listPopup(c.members, center);
      return;
    }
    var sw = map.unproject(L.point(c.x0, c.y1), z);
    var ne = map.unproject(L.point(c.x1, c.y0), z);
    var target = map.getBoundsZoom(L.latLngBounds(sw, ne), false, L.point(40, 40));
    // at least one level deeper than now (the bubble may date from an earlier zoom)
    target = Math.min(Math.max(target, z + 1, map.getZoom() + 1), map.getMaxZoom());
    map.setView(L.latLngBounds(sw, ne).getCenter(), target);
  };

  Cluster.prototype.listPopup = function (members, latlng) {
    var box = el('div', 'st-popup st-popup-list');
    var rows = this.data.rows;
    var list = el('ul');
    var self = this;
    members.slice(0, LIST_MAX).forEach(function (i) {
      var li = el('li');
      var b = el('button', 'linklike', rows[i][1]);
      b.type = 'button';
      b.addEventListener('click', function () { self.openPopup(i); });
      li.appendChild(b);
      list.appendChild(li);
    });
    box.appendChild(list);
    if (members.length > LIST_MAX) {
      box.appendChild(el('p', 'muted', '… +' + (members.length - LIST_MAX)));
    }
    L.popup(popupOptions({ maxWidth: 280 })).setLatLng(latlng).setContent(box).openOn(this.map);
  };

  Cluster.prototype.indexOf = function (id) {
    if (!this.byId) {
      this.byId = new Map();
      for (var i = 0; i < this.n; i++) { this.byId.set(this.data.rows[i][0], i); }
    }
    var found = this.byId.get(id);
    return found === undefined ? -1 : found;
  };

  // The markers drawn now: centre in container pixels, tap radius, station count.
  Cluster.prototype.drawnMarkers = function () { return (this.drawnList || []).slice(); };

  // Centre on a station and open its popup (used by links and by tests).
  Cluster.prototype.openStation = function (id) {
    var i = this.indexOf(id);
    if (i < 0) { return false; }
    // Without animation, so that the popup pans into view from the final position.
    this.map.setView(this.latLng(i), Math.max(this.map.getZoom(), SINGLE_ZOOM), { animate: false });
    this.openPopup(i);
    return true;
  };

  Cluster.prototype.openPopup = function (i) {
    var d = this.data;
    var row = d.rows[i];
    var S = this.strings;
    var box = el('div', 'st-popup');
    box.setAttribute('data-station-id', row[0]);
    box.appendChild(el('h3', 'st-popup-name', row[1]));
    var type = el('p', 'st-popup-type');
    var sw = el('span', 'swatch');
    sw.style.background = this.color(row[2]);
    type.appendChild(sw);
    type.appendChild(el('span', null, d.types[row[2]] ? d.types[row[2]][1] : ''));
    box.appendChild(type);

    var state = d.open_states[row[7]] || ['unknown', ''];
    var hours = el('p', 'st-popup-hours');
    if (this.flagged.has(i)) {  // riders report it closed: not "open now"
      hours.appendChild(el('span', 'open-state open-reported', S.open_reported || ''));
    } else {
      hours.appendChild(el('span', 'open-state open-' + state[0], state[1]));
    }
    var hoursText = row[6] >= 0 ? d.hours[row[6]] : (S.noHours || '');
    if (hoursText) { hours.appendChild(el('span', 'hours-text', ' ' + hoursText)); }
    box.appendChild(hours);
    if (this.flagged.has(i)) {
      box.setAttribute('data-reported-closed', '1');
      box.appendChild(el('p', 'st-popup-flag reported-closed status', '⚠ ' + (S.reported_closed || '')));
    }

    if (row[5]) {
      var list = el('ul', 'amenities');
      for (var b = 0; b < d.amenities.length; b++) {
        if (row[5] & (1 << b)) {
          var li = el('li', 'badge amenity-' + d.amenities[b][0], d.amenities[b][1]);
          list.appendChild(li);
        }
      }
      box.appendChild(list);
    }
    var extra = el('p', 'st-popup-extra');
    box.appendChild(extra);
    var links = el('p', 'st-popup-links');
    var nav = el('a', 'btn btn-nav', S.navigate || 'Navigate');
    // Until the deep links arrive, "navigate" leads to the station page, which has them.
    var page = (this.opts.pages || '/stations/') + encodeURIComponent(row[0]);
    nav.href = page;
    links.appendChild(nav);
    var more = el('a', 'details-link', S.details || 'Details');
    more.href = page;
    links.appendChild(more);
    var alts = el('span', 'alt-links');
    links.appendChild(alts);
    box.appendChild(links);
    var report = el('a', 'report-link', S.report || 'Report a problem');
    report.href = page + '/report';
    box.appendChild(el('p', 'st-popup-report')).appendChild(report);

    var popup = L.popup(popupOptions({ maxWidth: 290, minWidth: 200 }))
      .setLatLng(this.latLng(i)).setContent(box).openOn(this.map);
    this.fillDetails(row[0], extra, nav, alts, popup);
  };

  // Address, access and navigation links come from the API when a popup opens,
  // which keeps the page small: no per-station links are embedded.
  Cluster.prototype.fillDetails = function (id, extra, nav, alts, popup) {
    if (!global.fetch) { return; }
    var S = this.strings;
    var lang = this.data.lang === 'en' ? 'en' : 'zh';
    var url = (this.opts.api || '/api/v1') + '/stations/' + encodeURIComponent(id) + '?lang=' + lang;
    global.fetch(url, { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (st) {
        if (!st) { return; }
        if (st.address) { extra.appendChild(el('span', 'addr', st.address)); }
        if (st.access && st.access !== 'public' && S['access_' + st.access]) {
          extra.appendChild(el('span', 'access', ' · ' + S['access_' + st.access]));
        }
        var links = st.nav_links || {};
        if (links.amap) {
          nav.href = links.amap;
          nav.textContent = (S.navigate || 'Navigate') + ' · ' + (S.app_amap || 'Amap');
          nav.target = '_blank';
          nav.rel = 'noopener noreferrer';
          // Inside WeChat, static/wechat.js opens WeChat's own map from these (GCJ-02).
          var gcj = st.coords && st.coords.gcj02;
          if (gcj) {
            nav.setAttribute('data-nav-lon', String(gcj[0]));
            nav.setAttribute('data-nav-lat', String(gcj[1]));
            nav.setAttribute('data-nav-name', st.name || '');
            nav.setAttribute('data-nav-address', st.address || '');
          }
        }
        ['baidu', 'tencent', 'osm'].forEach(function (app) {
          if (!links[app]) { return; }
          var a = el('a', 'alt-link', S['app_' + app] || app);
          a.href = links[app];
          a.target = '_blank';
          a.rel = 'noopener noreferrer';
          alts.appendChild(a);
        });
        // The popup grew: lay it out and pan again, so that all of it stays in view.
        if (popup && popup.isOpen()) { popup.update(); }
      })
      .catch(function () { /* offline: the station-page link still works */ });
  };

  // An overlay for the layer control that switches one station type on and off.
  Cluster.prototype.typeLayer = function (code) {
    var self = this;
    var ti = -1;
    for (var i = 0; i < this.data.types.length; i++) {
      if (this.data.types[i][0] === code) { ti = i; }
    }
    var TypeLayer = L.Layer.extend({
      onAdd: function () { if (ti >= 0) { self.enabled[ti] = 1; self.schedule(); } },
      onRemove: function () { if (ti >= 0) { self.enabled[ti] = 0; self.schedule(); } }
    });
    return new TypeLayer();
  };

  global.LocatorCluster = {
    create: function (map, data, options) {
      var c = new Cluster(map, data, options);
      map._locatorCluster = c;
      return c;
    },
    CELL: CELL,
    HIT: HIT,
    SINGLE_ZOOM: SINGLE_ZOOM
  };
}(window));
