"""A tiny service that refuses to start without a valid config.json."""

import json
import sys


def load(path="config.json"):
    with open(path) as fh:
        cfg = json.load(fh)
    assert isinstance(cfg["name"], str)
    assert isinstance(cfg["port"], int) and 0 < cfg["port"] < 65536
    assert isinstance(cfg["debug"], bool)
    assert isinstance(cfg["database"]["pool_size"], int)
    assert all(isinstance(r["path"], str) and r["path"].startswith("/") for r in cfg["routes"])
    return cfg


if __name__ == "__main__":
    try:
        cfg = load()
    except Exception as exc:  # noqa: BLE001
        print(f"config error: {exc!r}", file=sys.stderr)
        sys.exit(1)
    print(f"config ok: {cfg['name']} on port {cfg['port']}, {len(cfg['routes'])} routes")
