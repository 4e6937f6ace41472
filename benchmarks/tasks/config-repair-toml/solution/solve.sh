#!/bin/bash
# Reference solution: quote the bare string, make the port an integer, use TOML booleans, put the
# inline table on one line, and merge the two [database] sections.
set -euo pipefail
cat > /app/settings.toml <<'TOML'
# Deployment settings
[app]
name = "ledger"
workers = 4
release = 2024-05-01
debug = false

[database]
host = "localhost"
port = 5432
user = "ledger_rw"
ssl = true

[features]
flags = ["audit", "export",]
limits = { max_rows = 5000, max_cols = 40 }

[[servers]]
name = "alpha"
weight = 3

[[servers]]
name = 'beta'
weight = 1
TOML
cd /app && python3 deploy.py
