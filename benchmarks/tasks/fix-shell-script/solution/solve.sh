#!/bin/bash
# Reference solution: quote everything, glob instead of ls, test -f, fail early.
set -euo pipefail
cat > /app/backup.sh <<'SH'
#!/bin/bash
# backup.sh SRC DEST — copy SRC/*.txt into DEST and write DEST/MANIFEST.
set -euo pipefail
SRC=$1
DEST=$2

if [ ! -d "$SRC" ]; then
  echo "error: $SRC is not a directory" >&2
  exit 1
fi

mkdir -p -- "$DEST"
count=0
names=()
shopt -s nullglob
for f in "$SRC"/*.txt; do
  [ -f "$f" ] || continue
  cp -- "$f" "$DEST/"
  names+=("$(basename -- "$f")")
  count=$((count + 1))
done

: > "$DEST/MANIFEST"
if [ "$count" -gt 0 ]; then
  (cd -- "$DEST" && printf '%s\n' "${names[@]}" | LC_ALL=C sort | while IFS= read -r n; do
    printf '%s  %s\n' "$(sha256sum -- "$n" | cut -d' ' -f1)" "$n"
  done > MANIFEST)
fi
echo "backed up $count files"
SH
