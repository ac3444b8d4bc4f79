"""isjson.py lines|sarif -- reads standard input, which must be UTF-8 and
JSON (one document per line, or one SARIF log), and prints it back (lines)
or the results' rule ids and messages, as JSON strings (sarif): tests/cli's check that
every JSON output of kairos is JSON even for bytes that are not UTF-8."""
import json
import sys

data = sys.stdin.buffer.read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    print("not UTF-8: %s" % e)
    sys.exit(1)
try:
    if sys.argv[1] == "sarif":
        log = json.loads(text)
        for r in log["runs"][0]["results"]:
            print(r["ruleId"], json.dumps(r["message"]["text"]))
    else:
        for line in text.splitlines():
            json.loads(line)
        sys.stdout.buffer.write(data)
except ValueError as e:
    print("not JSON: %s" % e)
    sys.exit(1)
print("valid JSON")
