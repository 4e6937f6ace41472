#!/bin/bash
# backup.sh SRC DEST — copy SRC/*.txt into DEST and write DEST/MANIFEST.
SRC=$1
DEST=$2

if [ ! -d $SRC ]; then
  echo "error: $SRC is not a directory"
fi

mkdir $DEST
count=0
for f in $(ls $SRC/*.txt); do
  cp $f $DEST
  count=$((count+1))
done

cd $DEST
sha256sum *.txt > MANIFEST
echo "backed up $count files"
