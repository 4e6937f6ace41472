"""Load and validate settings.toml; exits 1 with the reason when it is not usable."""

import sys
import tomllib


def load(path="settings.toml"):
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    assert isinstance(cfg["app"]["name"], str)
    assert isinstance(cfg["app"]["workers"], int)
    assert isinstance(cfg["database"]["port"], int)
    assert isinstance(cfg["database"]["host"], str)
    assert isinstance(cfg["features"]["flags"], list)
    for server in cfg["servers"]:
        assert isinstance(server["name"], str) and isinstance(server["weight"], int)
    return cfg


if __name__ == "__main__":
    try:
        cfg = load()
    except Exception as exc:  # noqa: BLE001
        print(f"settings error: {exc!r}", file=sys.stderr)
        sys.exit(1)
    print(f"settings ok: {cfg['app']['name']} with {len(cfg['servers'])} servers")
