"""Verifier for rebuild-pick-utility: /app/pick must pass every held-out case (run from /tests/data)."""

import json
import os
import subprocess
import sys

cases = json.load(open("/tests/hidden.json"))
if not os.access("/app/pick", os.X_OK):
    print("FAIL: /app/pick is missing or not executable")
    sys.exit(1)
passed = 0
for case in cases:
    try:
        run = subprocess.run(
            ["/app/pick", *case["args"]], input=case["stdin"].encode(), capture_output=True, cwd="/tests/data", timeout=10
        )
        got = (run.stdout.decode(errors="replace"), run.stderr.decode(errors="replace"), run.returncode)
    except (OSError, subprocess.TimeoutExpired) as exc:
        got = ("", repr(exc), -1)
    want = (case["stdout"], case["stderr"], case["exit"])
    if got == want:
        passed += 1
    else:
        print(f"FAIL pick {case['args']} stdin={case['stdin']!r}\n  want {want!r}\n  got  {got!r}")
print(f"held-out score: {passed}/{len(cases)} = {passed / len(cases):.3f}")
sys.exit(0 if passed == len(cases) else 1)
