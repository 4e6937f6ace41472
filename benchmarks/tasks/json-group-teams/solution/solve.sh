#!/bin/bash
# Reference solution: a small Python program behind a bash wrapper.
set -euo pipefail
cat > /app/transform.sh <<'SH'
#!/bin/bash
set -euo pipefail
python3 - "$1" "$2" <<'PY'
import json, sys
users = json.load(open(sys.argv[1]))
out = {}
for u in users:
    team = u.get("team") or {"name": "unassigned", "lead": None}
    t = out.setdefault(team["name"], {"lead": team["lead"], "members": [], "inactive": 0, "roles": []})
    if u["active"]:
        t["members"].append(u["name"])
        t["roles"].extend(u["roles"])
    else:
        t["inactive"] += 1
for t in out.values():
    t["members"].sort()
    t["roles"] = sorted(set(t["roles"]))
json.dump(out, open(sys.argv[2], "w"), indent=2, sort_keys=True)
PY
SH
bash /app/transform.sh /app/users.json /tmp/teams.json
