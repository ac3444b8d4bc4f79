"""Protocol-level tests of `kairos lsp` (run by tests/lsp/run.sh)."""
import json
import random
import subprocess
import sys

KAIROS = sys.argv[1]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: lsp/%s %s" % (name, detail))


class Server:
    def __init__(self):
        self.p = subprocess.Popen([KAIROS, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 1

    def send(self, obj):
        body = json.dumps(obj).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def send_raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def read(self):
        n = None
        while True:
            line = self.p.stdout.readline()
            if not line:
                return None
            if line == b"\r\n":
                break
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        return json.loads(self.p.stdout.read(n))

    def request(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        while True:
            m = self.read()
            if m is None or m.get("id") == i:
                return m

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self):
        while True:
            m = self.read()
            if m is None or m.get("method") == "textDocument/publishDiagnostics":
                return m


URI = "file:///tmp/nps%20policy.kai"
TEXT = ("policy \"t\"\n"
        "let calm = no open_ticket\n"
        "rule nps:\n"
        "  ask NPS via emial after ticket_closed + 24h\n"
        "  if calm\n")


def check_json(text):
    """`kairos check`'s diagnostics on text: sorted (line, character, code, severity, message), 0-based."""
    out = subprocess.run([KAIROS, "check", "--format", "json", "-"], input=text.encode(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()
    got = []
    for line in out.splitlines():
        j = json.loads(line)
        msg = j["message"] + ("\nhint: " + j["hint"] if j.get("hint") else "")
        got.append((j["line"] - 1, j["column"] - 1, j["code"], 1 if j["severity"] == "error" else 2, msg))
    return sorted(got)


def lsp_diags(d):
    return sorted((x["range"]["start"]["line"], x["range"]["start"]["character"], x.get("code"), x["severity"],
                   x["message"]) for x in d["params"]["diagnostics"])


def nul_tests(s):
    """U+0000 in a document: the server sees every byte `check` and `fmt` see (it used to cut the
    text at the NUL: only the first line's diagnostics, and a formatting edit ending at the NUL)."""
    uri = "file:///tmp/nul.kai"
    text = "ask NPS after x\u0000 @@ \nask CSAT after y @\n"
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "kairos", "version": 1, "text": text}})
    d = s.diagnostics()
    want = check_json(text)
    check("nul-diagnostics", lsp_diags(d) == want and want and want[0][:3] == (0, 15, "K0101"),
          "%s != %s" % (lsp_diags(d), want))
    sy = s.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    check("nul-symbols", [x["name"] for x in sy["result"]] == ["NPS@1", "CSAT@2"], json.dumps(sy))
    f = s.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})
    check("nul-no-format-on-error", f["result"] == [], json.dumps(f))
    h = s.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 1}})
    check("nul-hover-after", h["result"] and "ask SURVEY" in h["result"]["contents"]["value"]
          and h["result"]["range"]["start"] == {"line": 1, "character": 0}, json.dumps(h))
    for m in ("textDocument/hover", "textDocument/definition", "textDocument/completion"):
        r = s.request(m, {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 15}})
        check("nul-at-nul-" + m.split("/")[1], r is not None and "error" not in r, json.dumps(r))
    # A NUL in a comment: diagnostics and formatting as `check` and `fmt -` on the same bytes.
    text = ("cap 1 per 30d\nask NPS  after x # note\u0000 rest of the comment\n\n"
            "rule second:\n  ask CSAT\n  after y\n")
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]})
    d = s.diagnostics()
    want = check_json(text)
    check("nul-comment-diagnostics", lsp_diags(d) == want and any(x[2] == "K0101" for x in want),
          "%s != %s" % (lsp_diags(d), want))
    f = s.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})
    p = subprocess.run([KAIROS, "fmt", "-"], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0 or p.stdout == text.encode():
        ok = f["result"] == []
    else:
        ok = (len(f["result"]) == 1 and f["result"][0]["newText"] == p.stdout.decode()
              and f["result"][0]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 6, "character": 0}})
    check("nul-comment-formatting", ok, json.dumps(f))
    # The NUL's line, with the names before and after it: hover, definition, completion.
    text = "let calm = no open_ticket # a\u0000b\nrule r:\n  ask NPS after x\n  if calm\n"
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": text}]})
    d = s.diagnostics()
    check("nul-let-diagnostics", lsp_diags(d) == check_json(text), json.dumps(d))
    h = s.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 6}})
    check("nul-hover-let", h["result"] and "let calm = no open_ticket" in h["result"]["contents"]["value"], json.dumps(h))
    df = s.request("textDocument/definition", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 6}})
    check("nul-definition", df["result"] and df["result"]["range"]["start"] == {"line": 0, "character": 4}, json.dumps(df))
    c = s.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 5}})
    check("nul-completion", "calm" in {i["label"] for i in c["result"]["items"]}, json.dumps(c)[:300])
    # An incremental change that inserts a NUL, then one that removes it.
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 4}, "contentChanges": [
        {"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 4}}, "text": "\u0000"}]})
    d = s.diagnostics()
    text = "let calm = no open_ticket # a\u0000b\nrule r:\n  as\u0000k NPS after x\n  if calm\n"
    check("nul-incremental", lsp_diags(d) == check_json(text) and (2, 4, "K0101") in [x[:3] for x in lsp_diags(d)],
          json.dumps(d))
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 5}, "contentChanges": [
        {"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 5}}, "text": ""}]})
    d = s.diagnostics()
    # left: the NUL in the comment (K0101 as in a file, SPEC 1.1), nothing else
    text = "let calm = no open_ticket # a\u0000b\nrule r:\n  ask NPS after x\n  if calm\n"
    errs = [x for x in d["params"]["diagnostics"] if x["severity"] == 1]
    check("nul-incremental-removed", lsp_diags(d) == check_json(text) and len(errs) == 1
          and errs[0]["code"] == "K0101" and errs[0]["range"]["start"]["line"] == 0, json.dumps(d))
    s.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    s.diagnostics()
    # A NUL in a key, a URI, a method or an id: no name is taken for its part before the NUL.
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "version": 1, "text\u0000x": "ask NPS after x\n"}})
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri + "\u0000x", "version": 1, "text": "ask NPS after x\n"}})
    sy = s.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    check("nul-key-uri", sy and sy["result"] == [], json.dumps(sy))
    s.send({"jsonrpc": "2.0", "id": "a\u0000b", "method": "shutdown\u0000x", "params": None})
    m = s.read()
    check("nul-method-id", m and m.get("id") == "a\u0000b" and m.get("error", {}).get("code") == -32601, json.dumps(m))


def main():
    s = Server()
    init = s.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    caps = init["result"]["capabilities"]
    check("initialize", caps["textDocumentSync"]["change"] == 2 and caps["hoverProvider"]
          and caps["definitionProvider"] and caps["documentFormattingProvider"]
          and init["result"]["serverInfo"]["name"] == "kairos", json.dumps(init))
    s.notify("initialized", {})
    s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "kairos", "version": 1, "text": TEXT}})
    d = s.diagnostics()
    diags = d["params"]["diagnostics"]
    errs = [x for x in diags if x["severity"] == 1]
    check("diagnostics-open", d["params"]["uri"] == URI and len(errs) == 1
          and errs[0]["range"]["start"] == {"line": 3, "character": 14}
          and "emial" in errs[0]["message"] and errs[0]["code"].startswith("K"), json.dumps(diags))
    # incremental change: emial -> email
    s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
        {"range": {"start": {"line": 3, "character": 14}, "end": {"line": 3, "character": 19}}, "text": "email"}]})
    d = s.diagnostics()
    check("diagnostics-fixed", not [x for x in d["params"]["diagnostics"] if x["severity"] == 1],
          json.dumps(d["params"]["diagnostics"]))
    h = s.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 6}})
    check("hover-let", h["result"] and "let calm = no open_ticket" in h["result"]["contents"]["value"], json.dumps(h))
    h = s.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": {"line": 1, "character": 16}})
    check("hover-prelude-let", h["result"] and "open_ticket" in h["result"]["contents"]["value"]
          and "prelude" in h["result"]["contents"]["value"], json.dumps(h))
    h = s.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": {"line": 3, "character": 2}})
    check("hover-keyword", h["result"] and "ask SURVEY" in h["result"]["contents"]["value"], json.dumps(h))
    df = s.request("textDocument/definition", {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 5}})
    check("definition-let", df["result"] and df["result"]["uri"] == URI
          and df["result"]["range"]["start"] == {"line": 1, "character": 4}, json.dumps(df))
    c = s.request("textDocument/completion", {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 0}})
    labels = {i["label"] for i in c["result"]["items"]}
    check("completion", {"ask", "calm", "NPS", "email", "ticket_closed", "open_ticket"} <= labels, sorted(labels)[:20])
    sy = s.request("textDocument/documentSymbol", {"textDocument": {"uri": URI}})
    names = [(x["name"], x["kind"]) for x in sy["result"]]
    check("symbols", names == [("calm", 13), ("nps", 12)], names)
    s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 3}, "contentChanges": [
        {"text": "rule   nps :\n  ask NPS after ticket_closed+24h\n"}]})
    s.diagnostics()
    f = s.request("textDocument/formatting", {"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": True}})
    want = subprocess.run([KAIROS, "fmt", "-"], input=b"rule   nps :\n  ask NPS after ticket_closed+24h\n",
                          stdout=subprocess.PIPE).stdout.decode()
    check("formatting", f["result"] and f["result"][0]["newText"] == want and want, json.dumps(f))
    nul_tests(s)
    e = s.request("workspace/symbol", {"query": "x"})
    check("unknown-method", e.get("error", {}).get("code") == -32601, json.dumps(e))
    s.send_raw(b"Content-Length: 5\r\n\r\n{bad}")
    m = s.read()
    check("malformed-json", m and m.get("error", {}).get("code") == -32700, json.dumps(m))
    # Nesting deeper than 512 levels is refused before yajl's tree (freed by
    # recursion) is built: 300,000 levels crashed the server.
    deep = b"[" * 300000 + b"]" * 300000
    s.send_raw(b"Content-Length: %d\r\n\r\n" % len(deep) + deep)
    m = s.read()
    check("deep-json", m and m.get("error", {}).get("code") == -32700, json.dumps(m)[:200])
    deep = b'{"jsonrpc":"2.0","id":77,"method":"foo","params":' + b"[" * 300000 + b"]" * 300000 + b"}"
    s.send_raw(b"Content-Length: %d\r\n\r\n" % len(deep) + deep)
    m = s.read()
    check("deep-json-request", m and m.get("error", {}).get("code") == -32700, json.dumps(m)[:200])
    # Random edits: the server must answer every request and never die.
    rnd = random.Random(7)
    text = TEXT
    pieces = ["ask", " ", "\n", "(", ")", "count(", "within 3d", "\"", "#", "rule x:", "  ", "é", "😀",
              "if ", "+ 24h", "where", ".", "cap 1 per 30d", "==", "{", "}", "%", "variant a 50%"]
    alive = True
    for step in range(400):
        lines = text.split("\n")
        l0 = rnd.randrange(len(lines) + 1)
        c0 = rnd.randrange(40)
        l1, c1 = l0 + rnd.randrange(2), rnd.randrange(40)
        new = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(4)))
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 4 + step}, "contentChanges": [
            {"range": {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}}, "text": new}]})
        if s.diagnostics() is None:
            alive = False
            break
        # keep a model of the text only loosely: ask for it back via formatting is not possible,
        # so requests use random positions
        req = rnd.choice(["textDocument/hover", "textDocument/definition", "textDocument/completion",
                          "textDocument/documentSymbol", "textDocument/formatting"])
        r = s.request(req, {"textDocument": {"uri": URI}, "position": {"line": rnd.randrange(10), "character": rnd.randrange(50)},
                            "options": {"tabSize": 2, "insertSpaces": True}})
        if r is None or "error" in r:
            alive = False
            break
    check("random-edits", alive)
    s.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    d = s.diagnostics()
    check("close-clears", d and d["params"]["diagnostics"] == [], json.dumps(d))
    r = s.request("shutdown", None)
    s.notify("exit", None)
    rc = s.p.wait(timeout=10)
    check("shutdown-exit", r and "result" in r and rc == 0, "rc=%s" % rc)
    # Input ending without shutdown: exit 1.
    p = subprocess.run([KAIROS, "lsp"], input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check("eof-without-shutdown", p.returncode == 1)
    p = subprocess.run([KAIROS, "lsp"], input=b"Content-Length: 999999999999\r\n\r\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    check("huge-message", p.returncode == 1 and b"Content-Length" in p.stderr, p.stderr)
    # A Content-Length that is not a number ends the session (it was read as 0 or as its digits).
    for bad in (b"abc", b"2x", b""):
        p = subprocess.run([KAIROS, "lsp"], input=b"Content-Length: " + bad + b"\r\n\r\n{}", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        check("bad-length-%s" % (bad.decode() or "empty"), p.returncode == 1 and b"Content-Length" in p.stderr
              and p.stdout == b"", p.stderr)
    # Two different lengths for one message end the session with a message (the second
    # replaced the first without a word); the same length twice is one length. The input
    # ending inside a header or a body is said, not a silent exit 1.
    for name, data, want in (
            ("two-lengths", b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}", b"two different Content-Length"),
            ("short-body", b"Content-Length: 60\r\n\r\n{}", b"ended after 2 of the 60 bytes"),
            ("inside-header", b"Content-Length: 5\r\n", b"ended inside a message header")):
        p = subprocess.run([KAIROS, "lsp"], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check("framing-%s" % name, p.returncode == 1 and want in p.stderr and p.stdout == b"", p.stderr)
    p = subprocess.run([KAIROS, "lsp"], input=b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check("framing-same-length-twice", p.returncode == 1 and p.stderr == b"", p.stderr)
    # A header that never ends (/dev/zero, `yes`) ends the session; it spun forever before.
    for name, data in (("nul-bytes", b"\0" * 200000), ("endless-lines", b"y\n" * 200000)):
        try:
            p = subprocess.run([KAIROS, "lsp"], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
            check("endless-header-%s" % name, p.returncode == 1 and b"message header longer" in p.stderr
                  and p.stdout == b"", p.stderr)
        except subprocess.TimeoutExpired:
            check("endless-header-%s" % name, False, "timed out")
    # Ids are echoed as sent, whatever the number (they came back as null past 64 bits or
    # with a fraction); an object or array id is an invalid request (-32600, id null).
    raw = b""
    for body in (b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"foo"}',
                 b'{"jsonrpc":"2.0","id":1.0,"method":"foo"}', b'{"jsonrpc":"2.0","id":-0.5,"method":"foo"}',
                 b'{"jsonrpc":"2.0","id":{"a":1},"method":"foo"}', b'{"jsonrpc":"2.0","id":"s","method":"shutdown"}',
                 b'{"jsonrpc":"2.0","method":"exit"}'):
        raw += b"Content-Length: %d\r\n\r\n" % len(body) + body
    p = subprocess.run([KAIROS, "lsp"], input=raw, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ids = [m.split(b",", 2)[1] for m in p.stdout.split(b"\r\n\r\n")[1:]]
    check("ids-echoed", ids == [b'"id":123456789012345678901234567890', b'"id":1.0', b'"id":-0.5', b'"id":null',
                                b'"id":"s"'] and b"-32600" in p.stdout and p.returncode == 0, p.stdout)
    print("lsp: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
