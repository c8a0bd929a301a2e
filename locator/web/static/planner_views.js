/*
 * The planner's other views (profile, scenarios, target): draws the view's layer on the
 * coverage map that the page inlines (LocatorCoverage, shared with the report): demand
 * units that lose coverage at night, units a scenario gains or loses, the new sites of
 * a target. Its data is the JSON of #planner-overlay (positions already in the map's
 * CRS); labels are set with textContent. The tables and charts need no script.
 */
(function () {
  'use strict';

  var data = document.getElementById('planner-overlay');
  var box = document.querySelector('#view-map .coverage-map');
  var cov = box && box.locatorCoverage;
  if (!data || !cov) { return; }
  var ov = JSON.parse(data.textContent);
  var colors = ov.colors || {};
  var el = LocatorCoverage.el;
  var layers = {};
  var drawn = 0;

  function colorOf(key) {
    var base = key.split('-')[0];
    return colors[key] || colors[base] || '#9c36b5';
  }

  (ov.groups || []).forEach(function (g) {
    var color = colorOf(g.key);
    var markers = g.points.map(function (p) {
      var m = L.circleMarker([p[1], p[0]], { radius: 5, color: '#ffffff', weight: 1,
        fillColor: color, fillOpacity: 0.9 });
      m.bindTooltip(el('span', null, g.label + ' · ' + p[2]));
      return m;
    });
    drawn += markers.length;
    layers[g.key] = L.featureGroup(markers);
    layers[g.key].label = g.label;
    layers[g.key].color = color;
  });
  if (ov.sites && ov.sites.length) {
    layers.sites = L.featureGroup(ov.sites.map(function (s) {
      var m = L.marker([s[3], s[2]], { zIndexOffset: 1000, keyboard: false, icon: L.divIcon({
        className: 'cov-site', iconSize: [24, 24], html: el('span', 'cov-site-label', String(s[0])) }) });
      m.bindTooltip(el('span', null, s[0] + ' · ' + s[1]));
      return m;
    }));
    layers.sites.label = null;
    drawn += ov.sites.length;
  }

  // A legend of the view's layer (the map's own legend lists the coverage).
  var Legend = L.Control.extend({
    options: { position: 'bottomleft' },
    onAdd: function () {
      var div = el('div', 'cov-legend view-legend');
      this._list = el('ul');
      div.appendChild(this._list);
      L.DomEvent.disableClickPropagation(div);
      return div;
    },
    show: function (keys) {
      var list = this._list;
      while (list.firstChild) { list.removeChild(list.firstChild); }
      keys.forEach(function (k) {
        var layer = layers[k];
        if (!layer || !layer.label) { return; }
        var li = el('li');
        var sw = el('span', 'cov-sw round');
        sw.style.background = layer.color;
        li.appendChild(sw);
        li.appendChild(el('span', null, layer.label + ' (' + layer.getLayers().length + ')'));
        list.appendChild(li);
      });
    }
  });
  var legend = new Legend();
  legend.addTo(cov.map);

  // With several scenarios, the select chooses whose gains and losses are shown.
  var pick = document.getElementById('overlay-scenario');
  function show() {
    var keys = Object.keys(layers).filter(function (k) {
      if (!pick) { return true; }
      var i = k.split('-')[1];
      return i === undefined || i === pick.value;
    });
    var count = 0;
    Object.keys(layers).forEach(function (k) {
      if (keys.indexOf(k) >= 0) {
        layers[k].addTo(cov.map);
        count += layers[k].getLayers().length;
      } else {
        cov.map.removeLayer(layers[k]);
      }
    });
    legend.show(keys);
    box.setAttribute('data-overlay', String(count));
  }
  if (pick) { pick.addEventListener('change', show); }
  show();
  box.setAttribute('data-overlay-total', String(drawn));
}());
