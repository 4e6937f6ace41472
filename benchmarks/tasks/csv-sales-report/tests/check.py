"""Verifier for csv-sales-report: report.sh's output must equal the reference byte for byte."""

import pathlib
import subprocess
import sys

sys.path.insert(0, "/tests")
from reference import report  # noqa: E402

ok = True
script = pathlib.Path("/app/report.sh")
if not script.is_file():
    print("FAIL: /app/report.sh does not exist")
    sys.exit(1)
for data in ["/app/sales.csv", "/tests/hidden_sales.csv", "/tests/tie_sales.csv"]:
    want = report(data)
    run = subprocess.run(["bash", str(script), data], capture_output=True, text=True, timeout=20)
    if run.returncode != 0 or run.stdout != want:
        print(f"FAIL on {data} (exit {run.returncode})\n--- want\n{want}--- got\n{run.stdout}{run.stderr}")
        ok = False
    else:
        print(f"ok   {data}")
sys.exit(0 if ok else 1)
