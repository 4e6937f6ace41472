"""Verifier for fix-shell-script: runs /app/backup.sh on fresh fixtures with awkward names."""

import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def run(*args):
    return subprocess.run(["bash", "/app/backup.sh", *args], capture_output=True, text=True, timeout=20)


with tempfile.TemporaryDirectory() as tmp:
    t = pathlib.Path(tmp)
    src = t / "my src"
    src.mkdir()
    files = {"a.txt": "alpha\n", "b c.txt": "with space\n", "-dash.txt": "leading dash\n", "Z.txt": "", "ünï.txt": "u\n"}
    for name, body in files.items():
        (src / name).write_text(body)
    (src / "skip.TXT").write_text("no")
    (src / "notes.md").write_text("no")
    (src / "dir.txt").mkdir()
    (src / "dir.txt" / "inner.txt").write_text("no")
    dest = t / "out dir" / "nested"
    r = run(str(src), str(dest))
    if r.returncode != 0 or r.stdout != f"backed up {len(files)} files\n":
        fail(f"main run: exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")
    got = sorted(p.name for p in dest.iterdir()) if dest.is_dir() else []
    if got != sorted([*files, "MANIFEST"]):
        fail(f"DEST holds {got}")
    for name, body in files.items():
        if (dest / name).is_file() and (dest / name).read_text() != body:
            fail(f"{name} content differs")
    names = sorted(files, key=lambda n: n.encode())
    manifest = "".join(f"{hashlib.sha256(files[n].encode()).hexdigest()}  {n}\n" for n in names)
    if not (dest / "MANIFEST").is_file() or (dest / "MANIFEST").read_text() != manifest:
        fail(f"MANIFEST: want {manifest!r}, got {(dest / 'MANIFEST').read_text() if (dest / 'MANIFEST').is_file() else None!r}")

    empty = t / "empty"
    empty.mkdir()
    r = run(str(empty), str(t / "e-out"))
    manifest = t / "e-out" / "MANIFEST"
    if r.returncode != 0 or r.stdout != "backed up 0 files\n" or not manifest.is_file() or manifest.read_text():
        fail(f"empty SRC: exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")

    r = run(str(t / "missing"), str(t / "m-out"))
    if r.returncode != 1 or r.stderr != f"error: {t / 'missing'} is not a directory\n" or r.stdout:
        fail(f"missing SRC: exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")
    if os.path.exists(t / "m-out"):
        fail("missing SRC: DEST was created")
print("PASS" if not failures else f"{failures} failures")
sys.exit(1 if failures else 0)
