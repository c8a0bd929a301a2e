/* Verification rounds: fill in the phone's position (browser geolocation).
   The check form: hidden lon/lat/accuracy, the distance to the station, and a plain
   statement when no position could be had. The round page: "use my location" fills the
   coordinates and sorts the list nearest first. Without JavaScript both pages still
   work (no position; coordinates typed by hand). */
(function () {
  'use strict';
  var cfgEl = document.getElementById('verify-config');
  var cfg = cfgEl ? JSON.parse(cfgEl.textContent) : { strings: {} };
  var S = cfg.strings || {};

  function fmt(s, vals) {
    return String(s).replace(/\{(\w+)\}/g, function (_, k) { return vals[k]; });
  }

  function metres(lon1, lat1, lon2, lat2) {
    var r = Math.PI / 180, R = 6371008.8;
    var dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
    var h = Math.pow(Math.sin(dlat / 2), 2) +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.pow(Math.sin(dlon / 2), 2);
    return 2 * R * Math.asin(Math.sqrt(Math.min(1, h)));
  }

  function distText(m) {
    return m >= 1000 ? (m / 1000).toFixed(1) + ' km' : Math.round(m) + ' m';
  }

  function reason(err) {
    if (!err) return S.unsupported;
    if (err.code === 1) return S.denied;
    if (err.code === 3) return S.timeout;
    return S.unavailable;
  }

  /* Ask for one position; ok(pos) or fail(error|null). */
  function locate(ok, fail) {
    if (!('geolocation' in navigator)) { fail(null); return; }
    navigator.geolocation.getCurrentPosition(ok, fail,
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }

  function say(el, text, state) {
    if (!el) return;
    el.textContent = text;
    el.setAttribute('data-state', state);
  }

  // ---------------------------------------------------------------- the check form
  var form = document.getElementById('verify-form');
  if (form) {
    var status = document.getElementById('position-status');
    var lon = document.getElementById('v-lon'), lat = document.getElementById('v-lat');
    var acc = document.getElementById('v-accuracy');
    var pending = false, submitWhenDone = false;

    var done = function () {
      pending = false;
      if (submitWhenDone) { submitWhenDone = false; form.submit(); }
    };
    var ask = function () {
      pending = true;
      say(status, S.asking, 'asking');
      locate(function (p) {
        var c = p.coords;
        lon.value = c.longitude.toFixed(7);
        lat.value = c.latitude.toFixed(7);
        acc.value = c.accuracy != null ? Math.round(c.accuracy) : '';
        var d = metres(c.longitude, c.latitude, cfg.station[0], cfg.station[1]);
        var vals = { d: distText(d), a: acc.value || '?', m: Math.round(cfg.maxDistance) };
        if (d > cfg.maxDistance) say(status, fmt(S.far, vals), 'far');
        else say(status, fmt(S.got, vals), 'ok');
        done();
      }, function (err) {
        // Keep an earlier position if there was one; otherwise say plainly why not.
        if (!lon.value) say(status, reason(err), 'error');
        done();
      });
    };
    document.getElementById('use-position').addEventListener('click', ask);
    form.addEventListener('submit', function (ev) {
      if (pending) {  // a fix is on its way: send the form when it arrives
        ev.preventDefault();
        submitWhenDone = true;
        say(status, S.waiting, 'asking');
        setTimeout(function () { if (submitWhenDone) { submitWhenDone = false; form.submit(); } },
          8000);
      }
    });
    if (!lon.value) ask();
  }

  // ---------------------------------------------------------------- the round list
  var round = document.getElementById('round-form');
  if (round) {
    var gs = document.getElementById('geo-status');
    document.getElementById('use-location').addEventListener('click', function () {
      say(gs, S.asking, 'asking');
      locate(function (p) {
        document.getElementById('r-lon').value = p.coords.longitude.toFixed(6);
        document.getElementById('r-lat').value = p.coords.latitude.toFixed(6);
        document.getElementById('r-crs').value = 'wgs84';
        say(gs, S.got, 'ok');
        round.submit();
      }, function (err) { say(gs, reason(err), 'error'); });
    });
  }
  var printNow = document.getElementById('print-now');
  if (printNow) printNow.addEventListener('click', function () { window.print(); });
})();
