#!/bin/bash
# Reference solution: rewrite roman.py to the specification.
set -euo pipefail
cat > /app/roman.py <<'PY'
"""roman: convert between integers and Roman numerals."""

import sys

PAIRS = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
         (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
USAGE = "usage: roman [-d] VALUE"


def to_roman(n):
    out = []
    for value, sym in PAIRS:
        while n >= value:
            out.append(sym)
            n -= value
    return "".join(out)


CANONICAL = {to_roman(n): n for n in range(1, 4000)}


def fail(message, code):
    sys.stderr.write(message + "\n")
    return code


def main(argv):
    if len(argv) == 2 and argv[0] == "-d":
        value = CANONICAL.get(argv[1])
        if value is None:
            return fail(f"roman: invalid numeral: {argv[1]}", 1)
        sys.stdout.write(f"{value}\n")
        return 0
    if len(argv) != 1 or (argv[0].startswith("-") and argv[0][1:2].isalpha()) or argv[0] == "-d":
        return fail(USAGE, 2)
    text = argv[0]
    if not text or not all(c in "0123456789" for c in text):
        return fail(f"roman: not a number: {text}", 1)
    n = int(text)
    if not 1 <= n <= 3999:
        return fail(f"roman: out of range: {text}", 1)
    sys.stdout.write(to_roman(n) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
PY
python3 /app/roman.py 1994
