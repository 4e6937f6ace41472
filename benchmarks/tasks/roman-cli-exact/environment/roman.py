"""roman: convert between integers and Roman numerals."""

import sys

SYMBOLS = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]


def to_roman(n):
    out = ""
    for value, sym in SYMBOLS:
        while n >= value:
            out += sym
            n -= value
    return out


def from_roman(s):
    values = dict((sym, value) for value, sym in SYMBOLS)
    total = 0
    for ch in s.upper():
        total += values[ch]
    return total


def main(argv):
    if argv[0] == "-d":
        try:
            print(from_roman(argv[1]))
        except KeyError:
            print("invalid numeral", argv[1])
            return 1
        return 0
    try:
        n = int(argv[0])
    except ValueError:
        print("roman: not a number:", argv[0])
        return 1
    if n > 3999:
        print("roman: out of range:", n)
        return 1
    print(to_roman(n) + " ")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
