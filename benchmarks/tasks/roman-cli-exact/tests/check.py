"""Verifier for roman-cli-exact: stdout, stderr and exit status byte-exact on every case in cases.json."""

import json
import subprocess
import sys

cases = json.load(open("/tests/cases.json"))
failed = 0
for case in cases:
    run = subprocess.run([sys.executable, "/app/roman.py", *case["args"]], capture_output=True, timeout=10)
    got = (run.stdout, run.stderr, run.returncode)
    want = (case["stdout"].encode(), case["stderr"].encode(), case["exit"])
    if got != want:
        failed += 1
        print(f"FAIL roman.py {case['args']}: want {want!r}, got {got!r}")
print(f"{len(cases) - failed}/{len(cases)} cases pass")
sys.exit(1 if failed else 0)
