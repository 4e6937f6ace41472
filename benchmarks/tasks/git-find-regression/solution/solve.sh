#!/bin/bash
# Reference solution: git bisect run with the project's own check.
set -euo pipefail
cd /app
rm -rf shop
git clone -q -b main shop.bundle shop
cd shop
first=$(git rev-list --max-parents=0 HEAD)
git bisect start HEAD "$first" >/dev/null
git bisect run bash check.sh > /tmp/bisect.log 2>&1 || true
git rev-parse refs/bisect/bad > /app/first_bad.txt
git bisect reset -q >/dev/null 2>&1 || true
cat /app/first_bad.txt
