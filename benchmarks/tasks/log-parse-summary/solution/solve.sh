#!/bin/bash
# Reference solution: one regular expression per line, then the counts.
set -euo pipefail
cd /app
python3 - <<'PY'
import collections, json, re
LINE = re.compile(r'^(\S+) \S+ \S+ \[(\d{2})/(\w{3})/(\d{4}):(\d{2}):\d{2}:\d{2} [+-]\d{4}\] '
                  r'"(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "[^"]*" "[^"]*"$')
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
total = bad = bytes_total = 0
status, ips, paths, errors = collections.Counter(), set(), collections.Counter(), collections.Counter()
for line in open("access.log"):
    line = line.rstrip("\n")
    if not line.strip():
        continue
    m = LINE.match(line)
    if not m:
        bad += 1
        continue
    ip, day, mon, year, hour, _method, path, _proto, code, size = m.groups()
    total += 1
    status[code] += 1
    ips.add(ip)
    bytes_total += 0 if size == "-" else int(size)
    paths[path.split("?", 1)[0]] += 1
    if code.startswith("5"):
        errors[f"{year}-{MONTHS[mon]:02d}-{day}T{hour}"] += 1
top = sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
summary = {"total_requests": total, "malformed_lines": bad, "status_counts": dict(sorted(status.items())),
           "unique_ips": len(ips), "bytes_total": bytes_total, "top_paths": [list(t) for t in top],
           "server_errors_by_hour": dict(sorted(errors.items()))}
json.dump(summary, open("summary.json", "w"), indent=2)
print(json.dumps(summary))
PY
