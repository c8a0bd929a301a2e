/* Inside WeChat's browser (see locator/web/wechat.py, its server-side twin).
 *
 * LocatorWeChat.isWeChat() / isMiniProgram() say where the page runs; the pages' own
 * link builders (offline.js) ask it, so that inside WeChat every navigation link is the
 * vendor's https page, never an app link (WeChat blocks those).
 *
 * When the deployment configured WeChat's JSSDK, the server gives this script's tag
 * data-jssdk (where the JSSDK is loaded from), data-appid and data-signature-url; only
 * inside WeChat. The script then loads the JSSDK and asks the signature endpoint to sign
 * the page URL (without its #fragment):
 *
 *   GET <data-signature-url>?url=<page URL>  ->  {"appId"?, "timestamp", "nonceStr",
 *                                                "signature"}
 *
 * configures wx with jsApiList ['openLocation'], and once wx.ready fired (and wx.error
 * did not), a tap on a navigation button carrying
 *
 *   data-nav-lon, data-nav-lat   the station in GCJ-02 (what wx.openLocation takes)
 *   data-nav-name, data-nav-address
 *
 * opens WeChat's own map of the station (wx.openLocation), from which the rider can hand
 * it to any map app installed. Before that, without a signature, after wx.error, or
 * when openLocation fails, the tap follows the button's https link, as anywhere else:
 * a button is never dead. Buttons are found by event delegation, so those that scripts
 * draw later (results, map popups) work too.
 */
(function (global) {
  'use strict';

  var doc = global.document;
  var ua = (global.navigator && global.navigator.userAgent) || '';
  var script = doc.currentScript;

  function isWeChat() { return /MicroMessenger/i.test(ua); }

  // WeChat 7.0.0 and later name mini-programs' web-views in the User-Agent; older ones
  // set window.__wxjs_environment (once WeixinJSBridge is ready).
  function isMiniProgram() {
    return isWeChat() && (/miniProgram/i.test(ua) || global.__wxjs_environment === 'miniprogram');
  }

  // iOS WeChat checks a signature against the URL the page was entered with, Android
  // against the current one (pages that rewrite their address are signed again there).
  var IOS = /iPhone|iPad|iPod/i.test(ua);

  // 'off' (not configured), 'pending', 'ready' or 'failed'
  var state = 'off';
  var signedUrl = null;
  var appId = '';
  var signatureUrl = '';

  function pageUrl() { return String(global.location.href).split('#')[0]; }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = doc.createElement('script');
      s.src = src;
      s.async = true;
      s.onload = function () { resolve(); };
      s.onerror = function () { reject(new Error('the JSSDK did not load')); };
      doc.head.appendChild(s);
    });
  }

  function fetchSignature(url) {
    var sep = signatureUrl.indexOf('?') >= 0 ? '&' : '?';
    return global.fetch(signatureUrl + sep + 'url=' + encodeURIComponent(url), {
      headers: { Accept: 'application/json' }, credentials: 'same-origin'
    }).then(function (resp) {
      if (!resp.ok) { throw new Error('signature: HTTP ' + resp.status); }
      return resp.json();
    }).then(function (sig) {
      var ts = sig && Number(sig.timestamp);
      if (!sig || !isFinite(ts) || typeof sig.nonceStr !== 'string' || !sig.nonceStr ||
          typeof sig.signature !== 'string' || !/^[0-9a-fA-F]{40}$/.test(sig.signature)) {
        throw new Error('signature: the answer lacks timestamp, nonceStr or signature');
      }
      return sig;
    });
  }

  function configure(sig) {
    var wx = global.wx;
    if (!wx || typeof wx.config !== 'function') { throw new Error('no wx.config'); }
    wx.config({
      debug: false,
      appId: typeof sig.appId === 'string' && sig.appId ? sig.appId : appId,
      timestamp: Number(sig.timestamp),
      nonceStr: sig.nonceStr,
      signature: sig.signature,
      jsApiList: ['openLocation']
    });
  }

  // A page that changed its address is signed again; meanwhile the config in force
  // stays in use (a refused openLocation still falls back to the link).
  function sign(url, loading) {
    signedUrl = url;
    if (state !== 'ready') { state = 'pending'; }
    return Promise.all([loading, fetchSignature(url)]).then(function (done) {
      if (signedUrl !== url) { return; }  // the address changed meanwhile: signed again
      configure(done[1]);
    }).catch(function () {
      if (signedUrl === url) { state = 'failed'; }
    });
  }

  function start() {
    if (!script || !isWeChat() || !global.fetch || !global.Promise) { return; }
    var jssdk = script.getAttribute('data-jssdk');
    appId = script.getAttribute('data-appid') || '';
    signatureUrl = script.getAttribute('data-signature-url') || '';
    if (!jssdk || !appId || !signatureUrl) { return; }
    var loading = loadScript(jssdk).then(function () {
      var wx = global.wx;
      if (!wx || typeof wx.ready !== 'function' || typeof wx.error !== 'function') {
        throw new Error('the JSSDK did not define wx');
      }
      // Each wx.config ends in ready (and, when it failed, error as well).
      wx.ready(function () { if (state === 'pending') { state = 'ready'; } });
      wx.error(function () { state = 'failed'; });
    });
    sign(pageUrl(), loading);
    if (!IOS && global.history) {
      var resign = function () {
        if (pageUrl() !== signedUrl && state !== 'off') { sign(pageUrl(), loading); }
      };
      ['pushState', 'replaceState'].forEach(function (name) {
        var original = global.history[name];
        if (typeof original !== 'function') { return; }
        global.history[name] = function () {
          var out = original.apply(this, arguments);
          resign();
          return out;
        };
      });
      global.addEventListener('popstate', resign);
    }
  }

  function follow(link) {
    if (link.href) { global.location.href = link.href; }
  }

  function navPoint(link) {
    var lon = parseFloat(link.getAttribute('data-nav-lon'));
    var lat = parseFloat(link.getAttribute('data-nav-lat'));
    if (!isFinite(lon) || !isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
      return null;
    }
    return { longitude: lon, latitude: lat };
  }

  // Capture phase: maps stop some events on their popups before they bubble up.
  doc.addEventListener('click', function (ev) {
    if (state !== 'ready' || ev.defaultPrevented || ev.button || ev.metaKey || ev.ctrlKey) {
      return;
    }
    var link = ev.target && ev.target.closest ? ev.target.closest('[data-nav-lat]') : null;
    var point = link && navPoint(link);
    if (!point) { return; }
    ev.preventDefault();
    try {
      global.wx.openLocation({
        latitude: point.latitude,
        longitude: point.longitude,
        name: link.getAttribute('data-nav-name') || '',
        address: link.getAttribute('data-nav-address') || '',
        scale: 16,
        fail: function () { follow(link); }
      });
    } catch (e) {
      follow(link);
    }
  }, true);

  global.LocatorWeChat = {
    isWeChat: isWeChat,
    isMiniProgram: isMiniProgram,
    // 'off', 'pending', 'ready' or 'failed' (for tests and diagnostics)
    state: function () { return state; }
  };

  start();
}(window));
