"""Verifier for config-repair-toml: valid TOML with the intended values; deploy.py untouched and happy."""

import datetime
import hashlib
import subprocess
import sys
import tomllib

EXPECTED = {
    "app": {"name": "ledger", "workers": 4, "release": datetime.date(2024, 5, 1), "debug": False},
    "database": {"host": "localhost", "port": 5432, "user": "ledger_rw", "ssl": True},
    "features": {"flags": ["audit", "export"], "limits": {"max_rows": 5000, "max_cols": 40}},
    "servers": [{"name": "alpha", "weight": 3}, {"name": "beta", "weight": 1}],
}
ok = True
if hashlib.sha256(open("/app/deploy.py", "rb").read()).hexdigest() != open("/tests/deploy.sha256").read().split()[0]:
    print("FAIL: deploy.py was changed")
    ok = False
try:
    cfg = tomllib.load(open("/app/settings.toml", "rb"))
except Exception as exc:  # noqa: BLE001
    print(f"FAIL: settings.toml does not load: {exc}")
    sys.exit(1)
if cfg != EXPECTED:
    print(f"FAIL: settings differ from the intended ones: {cfg}")
    ok = False
run = subprocess.run([sys.executable, "/app/deploy.py"], cwd="/app", capture_output=True, text=True, timeout=10)
if run.returncode != 0 or not run.stdout.startswith("settings ok"):
    print(f"FAIL: deploy.py says {run.stdout}{run.stderr}")
    ok = False
sys.exit(0 if ok else 1)
