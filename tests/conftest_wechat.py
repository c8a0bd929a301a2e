"""Helpers of the WeChat tests (imported by them; not a pytest plugin): real User-Agent
strings, and a stand-in for WeChat's servers (the JSSDK script and a deployment's
signature endpoint) on a local port, since neither can be reached from here."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# Real User-Agents, as the phones send them.
ANDROID_WECHAT = (
    "Mozilla/5.0 (Linux; Android 13; V2232A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 "
    "Weixin NetType/WIFI Language/zh_CN ABI/arm64")
IOS_WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN")
ANDROID_MINIPROGRAM = ANDROID_WECHAT + " miniProgram/wx0123456789abcdef"
IOS_MINIPROGRAM = IOS_WECHAT + " miniProgram/wx0123456789abcdef"
WECOM = (
    "Mozilla/5.0 (Linux; Android 12; M2102K1C Build/SKQ1.211006.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 "
    "wxwork/4.1.16 MicroMessenger/7.0.1 NetType/WIFI Language/zh ColorScheme/Light")
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36")
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1")
QQ_BROWSER = (
    "Mozilla/5.0 (Linux; U; Android 12; zh-cn; PEDM00 Build/SKQ1.210216.001) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/109.0.5414.86 "
    "MQQBrowser/14.5 Mobile Safari/537.36 COVC/046701")
ALIPAY = (
    "Mozilla/5.0 (Linux; U; Android 12; zh-CN; V2166A Build/SP1A.210812.003) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/89.0.4389.116 "
    "UWS/3.22.2.59 Mobile Safari/537.36 AlipayClient/10.5.36.8000 Language/zh-Hans")

APPID = "wx0123456789abcdef"

#: The JSSDK's stand-in: records wx.config and wx.openLocation in window.__wx (and calls
#: window.__wxOpened, which a test may expose, on openLocation), runs the
#: ready callbacks after every config (as WeChat does, failed ones too), and with
#: ?mode=error then the error callbacks, with ?mode=open-fail openLocation's fail.
STANDIN_JSSDK = r"""(function () {
  var mode = new URL(document.currentScript.src).searchParams.get('mode') || 'ok';
  var log = window.__wx = { config: [], openLocation: [] };
  var ready = [], error = [], configured = false, failed = false;
  function run(fns, arg) { fns.forEach(function (f) { f(arg); }); }
  window.wx = {
    config: function (c) {
      log.config.push(JSON.parse(JSON.stringify(c)));
      setTimeout(function () {
        configured = true;
        run(ready);
        if (mode === 'error') { failed = true; run(error, { errMsg: 'config:invalid signature' }); }
      }, 20);
    },
    ready: function (f) { ready.push(f); if (configured) { f(); } },
    error: function (f) {
      error.push(f);
      if (failed) { f({ errMsg: 'config:invalid signature' }); }
    },
    openLocation: function (o) {
      var call = { latitude: o.latitude, longitude: o.longitude, name: o.name,
                   address: o.address, scale: o.scale };
      log.openLocation.push(call);
      if (window.__wxOpened) { window.__wxOpened(call); }  // a test's exposed function
      if (mode === 'open-fail' && o.fail) {
        setTimeout(function () { o.fail({ errMsg: 'openLocation:fail' }); }, 0);
      }
    }
  };
}());
"""


def fake_signature(url: str) -> str:
    """What the stand-in signs a page URL with (a SHA-1, as WeChat's is; tests compare)."""
    return hashlib.sha1(f"stand-in&url={url}".encode()).hexdigest()


@dataclass
class StandIn:
    """The stand-in server: its base URL and every request it answered (path, query)."""

    url: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [q for p, q in list(self.requests) if p == path]


@contextmanager
def wechat_standin() -> Iterator[StandIn]:
    """Serve, on 127.0.0.1 and a port of its own (another origin than the app's):

    - ``/jweixin.js[?mode=ok|error|open-fail]``: :data:`STANDIN_JSSDK`;
    - ``/signature?url=``: ``{appId, timestamp, nonceStr, signature}`` with
      :func:`fake_signature` (CORS open, as a deployment's endpoint on another host must);
    - ``/signature-500``: a server error; ``/signature-bad``: JSON without a signature.
    """
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    stand = StandIn(url="")

    @Request.application
    def app(request: Request) -> Response:
        stand.requests.append((request.path, dict(request.args)))
        cors = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
        if request.path == "/jweixin.js":
            return Response(STANDIN_JSSDK, mimetype="application/javascript", headers=cors)
        if request.path == "/signature":
            url = request.args.get("url", "")
            body = {"appId": APPID, "timestamp": 1767225600, "nonceStr": "n0nce",
                    "signature": fake_signature(url)}
            return Response(json.dumps(body), mimetype="application/json", headers=cors)
        if request.path == "/signature-bad":
            return Response(json.dumps({"timestamp": 1767225600}),
                            mimetype="application/json", headers=cors)
        if request.path == "/signature-500":
            return Response("no ticket", status=500, headers=cors)
        return Response("not here", status=404, headers=cors)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    stand.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
