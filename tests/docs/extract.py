#!/usr/bin/env python3
"""Writes the C++ blocks (```cpp, ```c++) of Markdown pages out for compiling; tests/docs/CMakeLists.txt
runs it at configure time.

    extract.py OUT_DIR HARNESS_DIR PAGE.md...

A block with a main() is a program: it is written to OUT_DIR/<page>_<n>.cpp, and its path printed,
to be compiled, linked and run. Any other block is a fragment and needs, on the line right before
it, an HTML comment (invisible on the rendered page) naming it:

    <!-- doc-test: NAME -->

It is written to OUT_DIR/<page>/NAME.inc, which HARNESS_DIR/<page>.cpp must #include where such code
goes (a namespace, a function body, after the includes it needs); the harness is a program too.
Each file starts with a #line directive, so compiler errors name the page and its line.
Files are rewritten only when they change, so that an edit recompiles only its page.
"""
import re
import sys
from pathlib import Path

FENCE = re.compile(r"^```\s*(cpp|c\+\+)\s*$", re.IGNORECASE)
DIRECTIVE = re.compile(r"^<!--\s*doc-test:\s*(.*?)\s*-->\s*$")
NAME = re.compile(r"^[A-Za-z0-9_]+$")
MAIN = re.compile(r"\bint\s+main\s*\(")


def fail(where, message):
    sys.exit(f"{where}: {message} (see tests/docs/extract.py)")


def blocks(page):
    """(line of the first code line, code, the doc-test directive before the fence or None)."""
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        directive = DIRECTIVE.match(lines[i])
        if directive and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
            fail(f"{page}:{i + 1}", "a doc-test comment must be the line right before a ```cpp block")
        if FENCE.match(lines[i]):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                fail(f"{page}:{i + 1}", "this ```cpp block is never closed")
            before = DIRECTIVE.match(lines[i - 1]) if i > 0 else None
            yield i + 2, "\n".join(lines[i + 1:end]) + "\n", before.group(1) if before else None
            i = end
        i += 1


def write(path, text, written):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    written.add(path)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: extract.py OUT_DIR HARNESS_DIR PAGE.md...")
    out, harnesses = Path(sys.argv[1]), Path(sys.argv[2])
    written, programs = set(), []
    for page in map(Path, sys.argv[3:]):
        stem = page.stem
        harness = harnesses / f"{stem}.cpp"
        parts, count = set(), 0
        for line, code, name in blocks(page):
            where = f"{page}:{line - 1}"
            text = f'#line {line} "{page.resolve()}"\n{code}'
            if name is None:
                if not MAIN.search(code):
                    fail(where, "a C++ block without main() needs a '<!-- doc-test: NAME -->' line before it")
                count += 1
                programs.append(out / f"{stem}_{count}.cpp")
                write(programs[-1], text, written)
                continue
            if not NAME.match(name):
                fail(where, f"'{name}' is not a fragment name (letters, digits, _)")
            if name in parts:
                fail(where, f"a second fragment named '{name}'")
            if not harness.exists():
                fail(where, f"fragment '{name}' has no {harness} to compile it in")
            if f'#include "{stem}/{name}.inc"' not in harness.read_text():
                fail(where, f'{harness} does not #include "{stem}/{name}.inc"')
            parts.add(name)
            write(out / stem / f"{name}.inc", text, written)
        if parts:
            programs.append(harness.resolve())
    for stale in out.rglob("*"):  # blocks that were removed or renamed
        if stale.is_file() and stale not in written:
            stale.unlink()
    print(";".join(str(p) for p in programs), end="")


main()
