/*
 * The planner page's form. The page itself is rendered by the server (it works
 * without JavaScript); this script only adds the time shortcuts ("now", 22:00, any
 * time) and a busy note while a run is computed. The map is drawn by the
 * LocatorCoverage script that the page inlines (shared with the HTML report).
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
}());
