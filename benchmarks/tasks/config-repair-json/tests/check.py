"""Verifier for config-repair-json: strict JSON, the intended values, service.py untouched and happy."""

import hashlib
import json
import subprocess
import sys

EXPECTED = {
    "name": "inventory-api",
    "port": 8080,
    "debug": False,
    "owner": None,
    "database": {"url": "postgres://db.internal:5432/inventory", "pool_size": 10, "timeout_s": 2.5},
    "routes": [
        {"path": "/items", "methods": ["GET", "POST"], "auth": True},
        {"path": "/items/{id}", "methods": ["GET", "PUT", "DELETE"], "auth": True},
        {"path": "/health", "methods": ["GET"], "auth": False},
    ],
    "tags": ["prod", "eu-west"],
    "message": 'it\'s "fine"',
}
SERVICE_SHA256 = open("/tests/service.sha256").read().split()[0]

ok = True
if hashlib.sha256(open("/app/service.py", "rb").read()).hexdigest() != SERVICE_SHA256:
    print("FAIL: service.py was changed")
    ok = False


def strict(const):
    raise ValueError(f"non-standard constant {const}")


try:
    cfg = json.load(open("/app/config.json"), parse_constant=strict)
except Exception as exc:  # noqa: BLE001
    print(f"FAIL: config.json is not valid JSON: {exc}")
    sys.exit(1)
if cfg != EXPECTED or type(cfg["port"]) is not int or type(cfg["database"]["timeout_s"]) is not float:
    print(f"FAIL: settings differ from the intended ones:\n{json.dumps(cfg, indent=1)}")
    ok = False
run = subprocess.run([sys.executable, "/app/service.py"], cwd="/app", capture_output=True, text=True, timeout=10)
if run.returncode != 0 or not run.stdout.startswith("config ok"):
    print(f"FAIL: service.py says {run.stdout}{run.stderr}")
    ok = False
sys.exit(0 if ok else 1)
