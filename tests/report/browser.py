#!/usr/bin/python3
"""tests/report/browser.py -- opens an HTML page in headless Chromium through
the DevTools protocol and checks what the browser saw (run by
tests/report/browser.sh; Python standard library only: the WebSocket client
is the few lines below).

usage: browser.py CHROMIUM PAGE.html SHOT.png [--expect TEXT]... [--charts N]

Fails (exit 1, one line per failure) when
  - the browser does not start or the page does not load;
  - the page logs a console error or throws an exception;
  - the page makes any network request besides loading itself;
  - a chart (svg.chart) has an empty bounding box, or fewer than N charts;
  - an expected text is not in the rendered text of the page (document.body
    .innerText with every <details> opened, so the tables count).
Writes a full-page PNG screenshot to SHOT.png.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time


class WebSocket:
    """A minimal RFC 6455 client: text frames, masked, no extensions."""

    def __init__(self, url, timeout):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        if not m:
            raise RuntimeError("bad DevTools URL " + url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n") % (m.group(3), m.group(1), m.group(2), key)
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("DevTools closed the connection during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise RuntimeError("WebSocket handshake refused: " + status.decode(errors="replace"))
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def send(self, text):
        data = text.encode()
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(hdr + mask + body)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            op = b0 & 0x0F
            if op == 0x8:
                raise RuntimeError("DevTools closed the WebSocket")
            if op in (0x9, 0xA):          # ping / pong: ignore
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()


class DevTools:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []

    def call(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + timeout
        while time.time() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
        raise RuntimeError(method + ": no reply")

    def wait_for(self, method, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for e in self.events:
                if e["method"] == method:
                    return e
            reply = json.loads(self.ws.recv())
            if "method" in reply:
                self.events.append(reply)
        raise RuntimeError("no " + method + " within %ds" % timeout)


CHECK_JS = r"""
(() => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const charts = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.id, w: r.width, h: r.height,
            marks: s.querySelectorAll('rect,circle,line').length};
  });
  return JSON.stringify({charts, text: document.body.innerText,
                         height: Math.ceil(document.documentElement.scrollHeight)});
})()
"""


def main(argv):
    args = argv[1:]
    if len(args) < 3:
        print("usage: browser.py CHROMIUM PAGE.html SHOT.png [--expect TEXT]... [--charts N]", file=sys.stderr)
        return 2
    chromium, page, shot = args[:3]
    expects, min_charts = [], 1
    i = 3
    while i < len(args):
        if args[i] == "--expect" and i + 1 < len(args):
            expects.append(args[i + 1]); i += 2
        elif args[i] == "--charts" and i + 1 < len(args):
            min_charts = int(args[i + 1]); i += 2
        else:
            print("browser.py: bad argument " + args[i], file=sys.stderr)
            return 2
    page_url = "file://" + os.path.abspath(page)
    failures = []
    profile = tempfile.mkdtemp(prefix="kairos-chromium-")
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                             "--disable-background-networking", "--disable-component-update",
                             "--user-data-dir=" + profile, "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url, log = None, b""
        deadline = time.time() + 60
        while time.time() < deadline and url is None:
            line = proc.stderr.readline()
            if not line:
                break
            log += line
            m = re.search(rb"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1).decode()
        if url is None:
            print("FAIL: browser: Chromium did not start: " + log.decode(errors="replace")[-400:].strip())
            return 1
        dt = DevTools(WebSocket(url, 60))
        target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sess = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for dom in ("Page", "Runtime", "Network", "Log"):
            dt.call(dom + ".enable", session=sess)
        dt.call("Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=sess)
        dt.events.clear()
        dt.call("Page.navigate", {"url": page_url}, session=sess)
        dt.wait_for("Page.loadEventFired", 60)
        # let late requests or errors surface
        dt.call("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 300))", "awaitPromise": True},
                session=sess)
        res = dt.call("Runtime.evaluate", {"expression": CHECK_JS, "returnByValue": True}, session=sess)
        seen = json.loads(res["result"]["value"])
        for e in dt.events:
            m, p = e["method"], e.get("params", {})
            if m == "Network.requestWillBeSent":
                u = p.get("request", {}).get("url", "")
                if u != page_url:
                    failures.append("network request: " + u)
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                failures.append("console error: " + json.dumps(p.get("args", []))[:200])
            elif m == "Runtime.exceptionThrown":
                failures.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:200])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                failures.append("log error: " + p["entry"].get("text", "")[:200])
        if not any(e["method"] == "Network.requestWillBeSent" and
                   e["params"].get("request", {}).get("url") == page_url for e in dt.events):
            failures.append("the page load itself was not seen (request log not working)")
        charts = seen["charts"]
        if len(charts) < min_charts:
            failures.append("%d charts, expected at least %d" % (len(charts), min_charts))
        for c in charts:
            if not (c["w"] > 0 and c["h"] > 0):
                failures.append("chart %s has an empty bounding box (%gx%g)" % (c["id"], c["w"], c["h"]))
            if c["marks"] == 0:
                failures.append("chart %s draws nothing" % c["id"])
        text = seen["text"]
        for x in expects:
            if x not in text:
                failures.append("text not in the rendered page: " + repr(x))
        closed = dt.call("Runtime.evaluate", {"expression":
                         "for (const d of document.querySelectorAll('details')) d.open = false;"
                         "Math.ceil(document.documentElement.scrollHeight)", "returnByValue": True}, session=sess)
        height = max(900, min(int(closed["result"]["value"]), 16000))
        dt.call("Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=sess)
        png = dt.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=sess)
        data = base64.b64decode(png["data"])
        if not data.startswith(b"\x89PNG") or len(data) < 10000:
            failures.append("screenshot is not a plausible PNG (%d bytes)" % len(data))
        with open(shot, "wb") as f:
            f.write(data)
        try:
            dt.call("Browser.close", timeout=5)
        except Exception:
            pass
        print("browser: %s: %d charts, %d expected texts, %d events seen, screenshot %s (%d bytes)"
              % (page, len(charts), len(expects), len(dt.events), shot, len(data)))
    except Exception as e:  # any protocol failure fails the test
        failures.append("browser: %s" % e)
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    for f in failures:
        print("FAIL: browser: %s: %s" % (page, f))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
