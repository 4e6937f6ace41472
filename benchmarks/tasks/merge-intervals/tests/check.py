"""Verifier for merge-intervals: fixed edge cases plus seeded random cases against a brute force."""

import random
import sys

sys.path.insert(0, "/app")
try:
    from intervals import merge_intervals, total_covered
except Exception as exc:  # noqa: BLE001
    print(f"FAIL: cannot import /app/intervals.py: {exc!r}")
    sys.exit(1)


def brute(intervals):
    points = sorted({x for s, e in intervals for x in range(s, e)})
    out = []
    for x in points:
        if out and out[-1][1] == x:
            out[-1][1] = x + 1
        else:
            out.append([x, x + 1])
    return [tuple(p) for p in out]


failures = 0


def expect(label, got_fn, want):
    global failures
    try:
        got = got_fn()
    except Exception as exc:  # noqa: BLE001
        got = exc
    same = isinstance(want, type) and isinstance(got, want) if isinstance(want, type) else got == want
    if isinstance(want, list) and same:
        same = all(type(t) is tuple for t in got)
    if not same:
        failures += 1
        print(f"FAIL {label}: want {want!r}, got {got!r}")


expect("example", lambda: merge_intervals([(5, 8), (1, 3), (2, 4), (8, 9), (10, 10)]), [(1, 4), (5, 9)])
expect("example total", lambda: total_covered([(5, 8), (1, 3), (2, 4), (8, 9), (10, 10)]), 7)
expect("empty input", lambda: merge_intervals([]), [])
expect("empty total", lambda: total_covered([]), 0)
expect("only empty intervals", lambda: merge_intervals([(3, 3), (0, 0)]), [])
expect("touching", lambda: merge_intervals([(3, 5), (1, 3)]), [(1, 5)])
expect("gap of one", lambda: merge_intervals([(1, 3), (4, 5)]), [(1, 3), (4, 5)])
expect("nested", lambda: merge_intervals([(0, 10), (2, 3), (4, 12)]), [(0, 12)])
expect("duplicates", lambda: merge_intervals([(1, 2), (1, 2)]), [(1, 2)])
expect("negative", lambda: merge_intervals([(-5, -2), (-2, 0), (3, 4)]), [(-5, 0), (3, 4)])
expect("generator input", lambda: merge_intervals(iter([(2, 4), (0, 1)])), [(0, 1), (2, 4)])
expect("empty inside", lambda: merge_intervals([(1, 2), (2, 2), (3, 4)]), [(1, 2), (3, 4)])
expect("reversed raises", lambda: merge_intervals([(1, 2), (5, 4)]), ValueError)
expect("reversed total raises", lambda: total_covered([(5, 4)]), ValueError)
data = [(4, 6), (1, 2)]
merge_intervals(data)
if data != [(4, 6), (1, 2)]:
    failures += 1
    print("FAIL: the input list was modified")
rnd = random.Random(2024)
for i in range(300):
    ivs = []
    for _ in range(rnd.randint(0, 8)):
        s = rnd.randint(-20, 20)
        ivs.append((s, s + rnd.randint(0, 6)))
    want = brute(ivs)
    expect(f"random {i} {ivs}", lambda: merge_intervals(ivs), want)
    expect(f"random total {i} {ivs}", lambda: total_covered(ivs), sum(e - s for s, e in want))
print("PASS" if not failures else f"{failures} failures")
sys.exit(1 if failures else 0)
