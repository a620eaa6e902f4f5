#!/usr/bin/env python3
"""mut.py BASE OUT OLD NEW [OLD NEW ...]: writes BASE to OUT with each literal OLD replaced by NEW
(first occurrence). Fails if an OLD is not in the text, so a hostile case cannot silently test the
unmodified file."""
import sys


def main() -> int:
    if len(sys.argv) < 5 or len(sys.argv) % 2 != 1:
        print("usage: mut.py BASE OUT OLD NEW [OLD NEW ...]", file=sys.stderr)
        return 2
    base, out = sys.argv[1], sys.argv[2]
    with open(base, encoding="utf-8") as f:
        text = f.read()
    pairs = sys.argv[3:]
    for old, new in zip(pairs[0::2], pairs[1::2]):
        if old not in text:
            print(f"mut.py: {old!r} not found in {base}", file=sys.stderr)
            return 2
        text = text.replace(old, new, 1)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
