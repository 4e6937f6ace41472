#!/bin/bash
# Reference solution: average the two middle values when the count is even.
set -euo pipefail
cd /app
python3 - <<'PY'
import pathlib
p = pathlib.Path("statkit/core.py")
src = p.read_text()
old = "    mid = n // 2\n    return data[mid]\n"
new = "    mid = n // 2\n    if n % 2:\n        return data[mid]\n    return (data[mid - 1] + data[mid]) / 2\n"
assert old in src
p.write_text(src.replace(old, new))
PY
python3 -m unittest
