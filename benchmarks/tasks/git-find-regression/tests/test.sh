#!/bin/bash
# Verifier (bash + coreutils only): /app/first_bad.txt must name the first failing commit.
mkdir -p /logs/verifier
want=$(tr -d '[:space:]' < /tests/first_bad.txt)
got=$(tr -d '[:space:]' < /app/first_bad.txt 2>/dev/null || true)
if [ -n "$got" ] && [ "$got" = "$want" ]; then
  echo "PASS: $got"
  echo 1 > /logs/verifier/reward.txt
else
  echo "FAIL: got '${got}', want the first failing commit"
  echo 0 > /logs/verifier/reward.txt
fi
