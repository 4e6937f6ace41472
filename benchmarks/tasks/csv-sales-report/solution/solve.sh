#!/bin/bash
# Reference solution: awk aggregates (revenue in integer cents), sort orders the regions.
set -euo pipefail
cat > /app/report.sh <<'SH'
#!/bin/bash
set -euo pipefail
file=$1
echo "region,orders,units,revenue"
awk -F, '
  function trim(s) { gsub(/^[ \t\r]+|[ \t\r]+$/, "", s); return s }
  NR == 1 { next }
  /^[ \t\r]*$/ { next }
  {
    r = trim($2); u = trim($4) + 0; p = trim($5)
    n = split(p, parts, ".")
    frac = (n > 1) ? substr(parts[2] "00", 1, 2) : "00"
    cents = (parts[1] * 100 + frac) * u
    orders[r]++; units[r] += u; rev[r] += cents
    to++; tu += u; tr += cents
  }
  END {
    for (r in orders) printf "%s,%d,%d,%d.%02d\n", r, orders[r], units[r], int(rev[r] / 100), rev[r] % 100 | "LC_ALL=C sort -t, -k4,4nr -k1,1"
    close("LC_ALL=C sort -t, -k4,4nr -k1,1")
    printf "TOTAL,%d,%d,%d.%02d\n", to, tu, int(tr / 100), tr % 100
  }' "$file"
SH
chmod +x /app/report.sh
bash /app/report.sh /app/sales.csv
