"""Run the cases of a JSON file (default visible.json) against /app/pick, from this directory."""

import json
import pathlib
import subprocess
import sys

here = pathlib.Path(__file__).resolve().parent
cases = json.loads((here / (sys.argv[1] if len(sys.argv) > 1 else "visible.json")).read_text())
passed = 0
for case in cases:
    run = subprocess.run(["/app/pick", *case["args"]], input=case["stdin"].encode(), capture_output=True, cwd=here)
    got = (run.stdout.decode(errors="replace"), run.stderr.decode(errors="replace"), run.returncode)
    want = (case["stdout"], case["stderr"], case["exit"])
    if got == want:
        passed += 1
    else:
        print(f"FAIL pick {case['args']} stdin={case['stdin']!r}\n  want {want!r}\n  got  {got!r}")
print(f"{passed}/{len(cases)} cases pass")
sys.exit(0 if passed == len(cases) else 1)
