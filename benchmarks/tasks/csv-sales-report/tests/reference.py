"""Independent reference for the sales report (Python, exact decimal arithmetic)."""

from decimal import Decimal


def report(path):
    rows = {}
    with open(path) as fh:
        next(fh)
        for line in fh:
            if not line.strip():
                continue
            _date, region, _product, units, price = (f.strip() for f in line.split(","))
            orders, u, rev = rows.get(region, (0, 0, Decimal(0)))
            rows[region] = (orders + 1, u + int(units), rev + int(units) * Decimal(price))
    out = ["region,orders,units,revenue"]
    for region, (orders, u, rev) in sorted(rows.items(), key=lambda kv: (-kv[1][2], kv[0].encode())):
        out.append(f"{region},{orders},{u},{rev:.2f}")
    total = [sum(v[i] for v in rows.values()) for i in range(3)]
    out.append(f"TOTAL,{total[0]},{total[1]},{total[2]:.2f}")
    return "\n".join(out) + "\n"
