"""Verifier for sqlite-top-customers: the query's rows equal a reference computed in Python, on two databases."""

import sqlite3
import sys
from collections import defaultdict


def reference(db):
    names = dict(db.execute("SELECT id, name FROM customers"))
    paid = {oid: cid for oid, cid in db.execute("SELECT id, customer_id FROM orders WHERE status = 'paid'")}
    count, spent = defaultdict(int), defaultdict(float)
    for cid in paid.values():
        count[cid] += 1
    for oid, q, p in db.execute("SELECT order_id, quantity, unit_price FROM order_items"):
        if oid in paid:
            spent[paid[oid]] += q * p
    rows = [(names[c], n, round(spent[c], 2)) for c, n in count.items() if n >= 2]
    rows.sort(key=lambda r: (-r[2], r[0]))
    return rows[:5]


try:
    query = open("/app/top_customers.sql").read()
except OSError as exc:
    print(f"FAIL: {exc}")
    sys.exit(1)
ok = True
for dump in ["/app/shop.sql", "/tests/hidden.sql"]:
    db = sqlite3.connect(":memory:")
    db.executescript(open(dump).read())
    try:
        cur = db.execute(query)
        cols = [d[0] for d in cur.description or []]
        rows = [tuple(r) for r in cur.fetchall()]
    except sqlite3.Error as exc:
        print(f"FAIL on {dump}: {exc}")
        ok = False
        continue
    want = reference(db)
    if cols != ["customer_name", "paid_orders", "total_spent"]:
        print(f"FAIL on {dump}: columns {cols}")
        ok = False
    elif [(a, b, round(c, 2)) for a, b, c in rows] != want:
        print(f"FAIL on {dump}:\n want {want}\n got  {rows}")
        ok = False
    else:
        print(f"ok   {dump}: {rows}")
sys.exit(0 if ok else 1)
