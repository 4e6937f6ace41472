"""Independent reference for the team grouping."""


def group(users):
    teams = {}
    for u in users:
        team = u["team"] or {"name": "unassigned", "lead": None}
        entry = teams.setdefault(team["name"], {"lead": team["lead"], "members": [], "inactive": 0, "roles": set()})
        if u["active"]:
            entry["members"].append(u["name"])
            entry["roles"].update(u["roles"])
        else:
            entry["inactive"] += 1
    return {k: {**v, "members": sorted(v["members"]), "roles": sorted(v["roles"])} for k, v in teams.items()}
