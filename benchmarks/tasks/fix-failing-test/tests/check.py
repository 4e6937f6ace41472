"""Verifier for fix-failing-test: the visible suite passes unchanged, and held-out cases pass."""

import pathlib
import subprocess
import sys

APP = pathlib.Path("/app")
ok = True

if (APP / "test_statkit.py").read_bytes() != pathlib.Path("/tests/test_statkit.orig.py").read_bytes():
    print("FAIL: test_statkit.py was modified")
    ok = False

run = subprocess.run([sys.executable, "-B", "-m", "unittest", "-v"], cwd=APP, capture_output=True, text=True)
print(run.stderr[-2000:])
if run.returncode != 0:
    print("FAIL: the visible suite fails")
    ok = False

sys.path.insert(0, str(APP))
try:
    from statkit import mean, median, value_range

    cases = [
        (median([5, 1]), 3),
        (median((3, 1, 2)), 2),
        (median([1.5, 2.5]), 2.0),
        (median(iter([4, 1, 3, 2])), 2.5),
        (median([7]), 7),
        (median([1, 2, 3, 4, 5, 6]), 3.5),
        (median([-3, -1]), -2),
        (mean([2, 4]), 3),
        (value_range([3]), 0),
    ]
    for i, (got, want) in enumerate(cases):
        if got != want:
            print(f"FAIL: held-out case {i}: got {got!r}, want {want!r}")
            ok = False
    data = [3, 1, 2, 4]
    median(data)
    if data != [3, 1, 2, 4]:
        print("FAIL: median mutated its input")
        ok = False
    for fn in (mean, median, value_range):
        try:
            fn([])
        except ValueError:
            pass
        else:
            print(f"FAIL: {fn.__name__}([]) did not raise ValueError")
            ok = False
except Exception as exc:  # noqa: BLE001
    print(f"FAIL: {exc!r}")
    ok = False

print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
