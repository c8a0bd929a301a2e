/*
 * Shared helpers for the app's Leaflet maps (loaded by every LocatorMap).
 *
 * - LocatorMaps.register(key, map, setup): called by the map's own script; page
 *   scripts get the map with LocatorMaps.onMap(key, callback).
 * - Tile failures (no internet, blocked tile server) are counted; when no tile has
 *   loaded after a few errors a short note says so. Failed tiles are never errors
 *   for the page: every station layer works without a base map.
 * - LocatorMaps.toMapCrs(lon, lat, crs): WGS-84 -> the map's CRS (GCJ-02 for Amap
 *   tiles). Used only to draw the rider's own GPS position on a GCJ-02 base map;
 *   every station coordinate arrives already converted by the server.
 * - DOM helpers: all text is set with textContent, never parsed as HTML.
 * - The notice strip under each map (base map source, 审图号) is the server's HTML;
 *   notes go after the map's frame, never over the map.
 */
(function (global) {
  'use strict';

  var maps = {};
  var waiting = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // ---------------------------------------------------------------- GCJ-02
  // The published forward formula of the GCJ-02 offset (the same constants as
  // locator.coords on the server). Points outside the China box are unchanged.
  var GCJ_A = 6378245.0;
  var GCJ_EE = 0.00669342162296594323;

  function outOfChina(lon, lat) {
    return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
  }

  function offsetLat(x, y) {
    var pi = Math.PI;
    var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * pi) + 40.0 * Math.sin(y / 3.0 * pi)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * pi) + 320.0 * Math.sin(y * pi / 30.0)) * 2.0 / 3.0;
    return r;
  }

  function offsetLon(x, y) {
    var pi = Math.PI;
    var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * pi) + 40.0 * Math.sin(x / 3.0 * pi)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * pi) + 300.0 * Math.sin(x / 30.0 * pi)) * 2.0 / 3.0;
    return r;
  }

  function wgs84ToGcj02(lon, lat) {
    if (outOfChina(lon, lat)) { return [lon, lat]; }
    var dLat = offsetLat(lon - 105.0, lat - 35.0);
    var dLon = offsetLon(lon - 105.0, lat - 35.0);
    var radLat = lat / 180.0 * Math.PI;
    var magic = Math.sin(radLat);
    magic = 1 - GCJ_EE * magic * magic;
    var sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtMagic) * Math.PI);
    dLon = (dLon * 180.0) / (GCJ_A / sqrtMagic * Math.cos(radLat) * Math.PI);
    return [lon + dLon, lat + dLat];
  }

  function toMapCrs(lon, lat, crs) {
    return crs === 'gcj02' ? wgs84ToGcj02(lon, lat) : [lon, lat];
  }

  // ---------------------------------------------------------------- frame
  // Every map sits in a frame (.map-frame): its viewport, then a strip with the legal
  // notice (base map source, map approval number 审图号) rendered by the server. The
  // strip is outside the viewport, so no marker or popup can be under it, and it has
  // no close button.
  function frameOf(map) {
    var c = map.getContainer();
    var f = c.closest ? c.closest('.map-frame') : null;
    return f || c;
  }

  function watchSize(map) {
    // The viewport is what the frame leaves above the notice strip: when the strip
    // reflows (a font arrives, the page's stylesheet loads later), tell Leaflet.
    if (!global.ResizeObserver) { return; }
    var c = map.getContainer();
    var w = c.clientWidth, h = c.clientHeight;
    new global.ResizeObserver(function () {
      if (c.clientWidth === w && c.clientHeight === h) { return; }
      w = c.clientWidth; h = c.clientHeight;
      map.invalidateSize({ pan: false });
    }).observe(c);
  }

  // ---------------------------------------------------------------- notes
  // Notes about a map ("sample data", "tiles could not be loaded") sit in a small bar
  // right below the map, never over it, so that they cannot cover a marker, the
  // rider's position or a popup. Each has a close button; a closed note stays closed
  // for the browser session (sessionStorage, per kind of note).
  var NOTE_KEY = 'locator-note-closed:';

  function noteClosed(kind) {
    try { return global.sessionStorage.getItem(NOTE_KEY + kind) === '1'; } catch (e) { return false; }
  }

  function rememberClosed(kind) {
    try { global.sessionStorage.setItem(NOTE_KEY + kind, '1'); } catch (e) { /* private mode */ }
  }

  function noteBar(map) {
    if (map._locatorNotes) { return map._locatorNotes; }
    var box = el('div', 'locator-notes');
    box.setAttribute('role', 'status');
    // After the map's frame (the viewport and its notice strip); a frame that fills a
    // positioned box (the /map page) gets its notes after that box.
    var anchor = frameOf(map);
    var pos = global.getComputedStyle ? global.getComputedStyle(anchor).position : '';
    if ((pos === 'absolute' || pos === 'fixed') && anchor.parentNode.parentNode) {
      anchor = anchor.parentNode;
    }
    anchor.parentNode.insertBefore(box, anchor.nextSibling);
    map._locatorNotes = box;
    return box;
  }

  function noteKind(text, className) {
    if (className) { return className; }
    var h = 0;  // a short hash of the text: notes without a kind are told apart by it
    for (var i = 0; i < text.length; i++) { h = (h * 31 + text.charCodeAt(i)) | 0; }
    return 'n' + (h >>> 0).toString(36);
  }

  function showNote(map, text, className) {
    var kind = noteKind(String(text), className);
    if (noteClosed(kind)) { return null; }
    var box = noteBar(map);
    if (box.querySelector('[data-note="' + kind + '"]')) { return null; }
    var lang = map._locatorEntry ? map._locatorEntry.lang : document.documentElement.lang;
    var note = el('p', 'locator-note' + (className ? ' ' + className : ''));
    note.setAttribute('data-note', kind);
    note.appendChild(el('span', 'locator-note-text', text));
    var close = el('button', 'locator-note-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', lang === 'en' ? 'Close this note' : '关闭此提示');
    close.addEventListener('click', function () {
      rememberClosed(kind);
      if (note.parentNode) { note.parentNode.removeChild(note); }
    });
    note.appendChild(close);
    box.appendChild(note);
    return note;
  }

  function watchTiles(map, setup) {
    var loaded = 0;
    var failed = 0;
    map.on('layeradd', function (e) {
      var layer = e.layer;
      if (!(layer instanceof L.TileLayer) || layer._locatorWatched) { return; }
      layer._locatorWatched = true;
      layer.on('tileload', function () {
        loaded += 1;
        map.getContainer().classList.remove('tiles-failed');
      });
      layer.on('tileerror', function () {
        failed += 1;
        if (loaded === 0 && failed >= 4) {
          map.getContainer().classList.add('tiles-failed');
          showNote(map, setup.tileErrorText, 'tile-error');
        }
      });
    });
  }

  // ---------------------------------------------------------------- registry
  function register(key, map, setup) {
    var entry = { key: key, map: map, crs: setup.crs || 'wgs84', tiles: setup.tiles,
                  lang: setup.lang, setup: setup };
    maps[key] = entry;
    map._locatorEntry = entry;
    watchTiles(map, setup);
    watchSize(map);
    (setup.notes || []).forEach(function (text) { showNote(map, text, null); });
    var queue = waiting[key] || [];
    delete waiting[key];
    queue.forEach(function (cb) { cb(entry); });
    return entry;
  }

  function onMap(key, cb) {
    if (maps[key]) { cb(maps[key]); return; }
    (waiting[key] = waiting[key] || []).push(cb);
  }

  // ---------------------------------------------------------------- layers
  function boundaryLayer(geojson, options) {
    // Not interactive: the outlines give orientation and must not catch taps
    // meant for the stations underneath.
    return L.geoJSON(geojson, {
      attribution: options.attribution,
      interactive: false,
      style: function () {
        return { color: '#5c677d', weight: 1.5, opacity: 0.8, dashArray: '5 4',
                 fillColor: '#5c677d', fillOpacity: 0.03 };
      }
    });
  }

  function pin(map, options) {
    var marker = L.circleMarker([options.lat, options.lon], {
      radius: 10, color: '#ffffff', weight: 3, fillColor: options.color, fillOpacity: 1
    }).addTo(map);
    marker.bindTooltip(el('span', 'pin-label', options.label),
      { permanent: true, direction: 'top', offset: [0, -10] });
    map.getContainer().setAttribute('data-marker-count', '1');
    return marker;
  }

  function legend(map, options) {
    var Legend = L.Control.extend({
      options: { position: 'bottomright' },
      onAdd: function () {
        var box = el('div', 'locator-legend');
        var details = el('details');
        details.open = window.innerWidth > 600;
        details.appendChild(el('summary', null, options.title));
        var list = el('ul');
        options.items.forEach(function (item) {
          var li = el('li');
          var sw = el('span', 'swatch');
          sw.style.background = item[2];
          li.appendChild(sw);
          li.appendChild(el('span', null, item[1]));
          list.appendChild(li);
        });
        details.appendChild(list);
        var cl = el('li');
        var csw = el('span', 'swatch swatch-cluster', '');
        cl.appendChild(csw);
        cl.appendChild(el('span', null, options.clusterText || (map._locatorEntry &&
          map._locatorEntry.lang === 'en' ? 'Several stations (tap to zoom)' :
          '多个站点（点击放大）')));
        list.appendChild(cl);
        box.appendChild(details);
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    new Legend().addTo(map);
    (options.notes || []).forEach(function (text) { showNote(map, text, 'sample-note'); });
  }

  global.LocatorMaps = {
    register: register,
    onMap: onMap,
    get: function (key) { return maps[key] || null; },
    el: el,
    showNote: showNote,
    wgs84ToGcj02: wgs84ToGcj02,
    toMapCrs: toMapCrs,
    boundaryLayer: boundaryLayer,
    pin: pin,
    legend: legend
  };
}(window));
