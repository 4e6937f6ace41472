"""Verifier for log-parse-summary: summary.json must equal the expected summary (key order free)."""

import json
import sys

want = json.load(open("/tests/expected.json"))
try:
    got = json.load(open("/app/summary.json"))
except Exception as exc:  # noqa: BLE001
    print(f"FAIL: /app/summary.json is missing or not JSON: {exc}")
    sys.exit(1)
ok = True
for key in sorted(set(want) | set(got)):
    if got.get(key) != want.get(key):
        print(f"FAIL {key}: want {want.get(key)!r}, got {got.get(key)!r}")
        ok = False
sys.exit(0 if ok else 1)
