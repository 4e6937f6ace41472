"""Verifier for json-group-teams: transform.sh's output equals the reference on the visible and a hidden input."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, "/tests")
from reference import group  # noqa: E402

ok = True
for src in ["/app/users.json", "/tests/hidden_users.json"]:
    out = os.path.join(tempfile.mkdtemp(), "out.json")
    run = subprocess.run(["bash", "/app/transform.sh", src, out], capture_output=True, text=True, timeout=20)
    want = group(json.load(open(src)))
    try:
        got = json.load(open(out))
    except Exception as exc:  # noqa: BLE001
        print(f"FAIL on {src}: no JSON output ({exc}); exit {run.returncode} {run.stderr[-500:]}")
        ok = False
        continue
    if got != want:
        print(f"FAIL on {src}:\n want {json.dumps(want, sort_keys=True)}\n got  {json.dumps(got, sort_keys=True)}")
        ok = False
    else:
        print(f"ok   {src}")
sys.exit(0 if ok else 1)
