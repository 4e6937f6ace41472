#!/bin/bash
# Reference solution: pick in Python.
set -euo pipefail
cat > /app/pick <<'PY'
#!/usr/bin/env python3
import sys

USAGE = "usage: pick [-s] [-d DELIM] -f LIST [FILE...]"


def die(msg, code):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def parse_list(text):
    items = []
    if not text:
        die(f"pick: invalid field list: {text}", 1)
    for item in text.split(","):
        lo, dash, hi = item.partition("-")
        try:
            if not dash:
                a = int(lo) if lo.isdigit() else None
                b = a
            else:
                if not lo and not hi:
                    raise ValueError
                a = int(lo) if lo else 1
                b = int(hi) if hi else None
                if (lo and not lo.isdigit()) or (hi and not hi.isdigit()):
                    raise ValueError
            if a is None or a < 1 or (b is not None and (b < 1 or a > b)):
                raise ValueError
        except ValueError:
            die(f"pick: invalid field list: {text}", 1)
        items.append((a, b))
    return items


def main(argv):
    delim, flist, suppress, files = "\t", None, False, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-s":
            suppress = True
        elif arg in ("-d", "-f"):
            if i + 1 >= len(argv):
                die(USAGE, 2)
            if arg == "-d":
                delim = argv[i + 1]
            else:
                flist = argv[i + 1]
            i += 1
        elif arg.startswith("-") and arg != "-":
            die(USAGE, 2)
        else:
            files = argv[i:]
            break
        i += 1
    if flist is None:
        die(USAGE, 2)
    if len(delim) != 1:
        die("pick: the delimiter must be a single character", 1)
    items = parse_list(flist)
    status = 0
    out = sys.stdout
    for name in files or ["-"]:
        if name == "-":
            data = sys.stdin.read()
        else:
            try:
                with open(name, newline="") as fh:
                    data = fh.read()
            except OSError:
                sys.stderr.write(f"pick: {name}: No such file or directory\n")
                status = 1
                continue
        lines = data.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for line in lines:
            if delim not in line:
                if not suppress:
                    out.write(line + "\n")
                continue
            fields = line.split(delim)
            picked = []
            for a, b in items:
                last = len(fields) if b is None else b
                for n in range(a, last + 1):
                    picked.append(fields[n - 1] if n <= len(fields) else "")
            out.write(delim.join(picked) + "\n")
        out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
PY
chmod +x /app/pick
cd /app/cases && python3 run_cases.py
