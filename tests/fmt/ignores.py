#!/usr/bin/env python3
"""ignores.py KAIROS [ROOT] -- `kairos fmt` keeps what every `# kairos:ignore`
comment silences (SPEC 6.1, "Meaning is kept"; 6.2, `# kairos:ignore`).

For every .kai file of the repository (examples/, stdlib/, tests/) and
seeded mutants of it -- clause lines joined, split and swapped, channels
turned into sms, rules unnamed, and `# kairos:ignore` comments (with the
codes warned on the line below, sometimes with a blank line after them, or
indented like a clause) put before random lines -- checks that:

  - `kairos check --format json` gives the same diagnostics before and after
    `kairos fmt` (compared by severity, code, message, hint and the text
    they point at: line numbers change);
  - fmt is a fixed point: fmt(fmt(x)) == fmt(x);
  - the bytecode is the same (disasm without line numbers and source hash)
    when the policy compiles.

A file or mutant with a syntax error (fmt refuses it, exit 1, no K0799) is
skipped.  One case per source file (all its mutants); prints one FAIL line
per failing mutant (its text is kept in $FMT_IGNORES_KEEP when set), then
"ignores: N passed, M failed".  FMT_IGNORES_MUTANTS sets mutants per file
(default 8).
"""
import concurrent.futures as cf
import json
import os
import random
import re
import subprocess
import sys
import tempfile

KAIROS = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NMUT = int(os.environ.get("FMT_IGNORES_MUTANTS", "8"))
KEEP = os.environ.get("FMT_IGNORES_KEEP")

CLAUSE = re.compile(r" (via|after|every|if|unless|at|cap|priority|variant|on retrigger|where|then) ")


def run(args, data=None):
    p = subprocess.run([KAIROS] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr


def diags(path):
    """The diagnostics of `check --format json` as a sorted list of keys."""
    _, out, _ = run(["check", "--format", "json", "--color=never", path])
    with open(path, "rb") as fh:
        own = fh.read().split(b"\n")
    keys = []
    for line in out.decode("utf-8", "replace").splitlines():
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        text = ""
        if d.get("file") == path and d.get("line"):
            ln, col = d["line"], d.get("column", 1)
            eln, ecol = d.get("endLine", ln), d.get("endColumn", col)
            if 0 < ln <= eln <= len(own):
                if eln == ln:
                    span = own[ln - 1][col - 1:ecol]
                else:                               # over several lines
                    parts = [own[ln - 1][col - 1:]] + own[ln:eln - 1] + [own[eln - 1][:ecol]]
                    span = b"".join(re.sub(rb"#.*", b"", x) for x in parts)   # not the comments
                text = span.decode("utf-8", "replace")
        norm = lambda s: re.sub(r"\bline \d+", "line N", s or "")
        text = re.sub(r"\s+", "", text)            # fmt changes the spacing
        if text.startswith("#"):
            text = ""                               # K0708 at 1:1: no token there
        keys.append((d.get("severity"), d.get("code"), norm(d.get("message")),
                     norm(d.get("hint")), text))
    return sorted(keys)


def disasm(path):
    rc, out, _ = run(["disasm", path])
    if rc != 0:
        return None
    lines = []
    for ln in out.decode("utf-8", "replace").splitlines():
        if re.match(r"^source +fnv1a64", ln):
            continue
        ln = re.sub(r" *; line \d+$", "", ln)
        ln = re.sub(r"  at \S*:\d+:\d+$", "", ln)
        ln = re.sub(r" *\(line \d+\)$", "", ln)
        lines.append(ln)
    return lines


def is_code(line):
    s = line.strip()
    return s != "" and not s.startswith("#")


def shake(lines, rng):
    """Layout mutations: join a clause line onto the line before, split a
    line before a clause word, swap two clause lines, sms channels,
    unnamed rules."""
    lines = list(lines)
    for _ in range(rng.randint(0, 4)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.randrange(6)
        ln = lines[i]
        if op == 0 and i > 0 and ln.startswith("  ") and is_code(ln) and \
                is_code(lines[i - 1]) and "#" not in lines[i - 1]:
            lines[i - 1] = lines[i - 1] + " " + ln.strip()           # join
            del lines[i]
        elif op == 1 and '"' not in ln and "#" not in ln:
            ms = list(CLAUSE.finditer(ln))
            if ms:
                m = rng.choice(ms)
                ind = len(ln) - len(ln.lstrip()) + 2
                lines[i:i + 1] = [ln[:m.start()], " " * ind + ln[m.start() + 1:]]   # split
        elif op == 2 and i + 1 < len(lines) and ln.startswith("  ") and \
                lines[i + 1].startswith("  ") and is_code(ln) and is_code(lines[i + 1]):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]         # swap
        elif op == 3:
            lines[i] = re.sub(r"\b(email|in_app|whatsapp)\b", "sms", ln, count=1)
        elif op == 4 and re.match(r"^rule \w+:\s*$", ln) and i + 1 < len(lines) and \
                lines[i + 1].lstrip().startswith(("ask ", "task ")):
            lines[i:i + 2] = [lines[i + 1].lstrip()]                  # unnamed
        elif op == 5:
            lines.insert(i, "")                                        # a blank line
    return lines


def warned_lines(path):
    """line number -> codes of the warnings and notes on it."""
    _, out, _ = run(["check", "--format", "json", path])
    by = {}
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("file") == path and d.get("severity") in ("warning", "note"):
                by.setdefault(d.get("line"), set()).add(d.get("code"))
    return by


def add_ignores(lines, by, rng):
    """Puts `# kairos:ignore` comments before random lines."""
    allcodes = sorted({c for cs in by.values() for c in cs}) or ["K0706"]
    out = []
    p = rng.choice([0.2, 0.4, 0.7, 1.0])
    for n, ln in enumerate(lines, 1):
        if rng.random() < p and (is_code(ln) or rng.random() < 0.2):
            codes = sorted(by.get(n, ())) or [rng.choice(allcodes)]
            if rng.random() < 0.3:
                codes = allcodes
            ind = len(ln) - len(ln.lstrip()) if is_code(ln) else rng.choice([0, 2])
            out.append(" " * ind + "# kairos:ignore " + " ".join(codes) + " -- test")
            if rng.random() < 0.3:
                out.append("")                     # silences nothing
        out.append(ln)
    return out


def check_one(tmp, name, text):
    """None when fmt keeps everything, else what went wrong."""
    src = os.path.join(tmp, "policy.kai")
    with open(src, "wb") as fh:
        fh.write(text)
    rc, out, err = run(["fmt", "--color=never", src])
    if rc != 0:
        if b"K0799" in err:
            return "fmt refused it (K0799): " + err.decode("utf-8", "replace")[:400]
        return "skip"
    os.makedirs(os.path.join(tmp, "f"), exist_ok=True)
    dst = os.path.join(tmp, "f", "policy.kai")      # the same name: the policy's name
    with open(dst, "wb") as fh:
        fh.write(out)
    rc2, again, _ = run(["fmt", dst])
    if rc2 != 0 or again != out:
        return "fmt(fmt(x)) != fmt(x)"
    a, b = diags(src), diags(dst)
    if a != b:
        lost = [k for k in a if k not in b]
        new = [k for k in b if k not in a]
        return ("diagnostics differ after fmt: lost %r, new %r" % (lost[:3], new[:3]))[:600]
    da = disasm(src)
    if da is not None and da != disasm(dst):
        return "bytecode differs after fmt"
    return None


def check_file(path):
    """Returns (mutants tried, failure lines)."""
    rel = os.path.relpath(path, ROOT)
    with open(path, "rb") as fh:
        orig = fh.read()
    rng = random.Random(rel)
    fails, tried = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        texts = [orig]
        try:
            base = orig.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            base = None
        for _ in range(NMUT if base is not None else 0):
            lines = shake(base, rng)
            src = os.path.join(tmp, "policy.kai")
            with open(src, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines))
            by = warned_lines(src)
            texts.append("\n".join(add_ignores(lines, by, rng)).encode("utf-8"))
        for k, text in enumerate(texts):
            why = check_one(tmp, rel, text)
            if why == "skip":
                continue
            tried += 1
            if why:
                label = "%s mutant %d" % (rel, k)
                if KEEP:
                    os.makedirs(KEEP, exist_ok=True)
                    keep = os.path.join(KEEP, rel.replace("/", "_") + ".%d.kai" % k)
                    with open(keep, "wb") as fh:
                        fh.write(text)
                    label += " (" + keep + ")"
                fails.append("FAIL: fmt/ignores: %s: %s" % (label, why))
    return tried, fails


def main():
    files = []
    for top in ("examples", "stdlib", "tests"):
        for d, _, names in os.walk(os.path.join(ROOT, top)):
            files += [os.path.join(d, n) for n in names if n.endswith(".kai")]
    files.sort()
    passed = failed = mutants = 0
    with cf.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as ex:
        for tried, fails in ex.map(check_file, files):
            mutants += tried
            for f in fails:
                print(f)
            if fails:
                failed += 1
            else:
                passed += 1
    print("ignores: %d files, %d formatted texts checked" % (len(files), mutants))
    print("ignores: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
