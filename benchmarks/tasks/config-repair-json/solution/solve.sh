#!/bin/bash
# Reference solution: write the configuration back as strict JSON.
set -euo pipefail
cat > /app/config.json <<'JSON'
{
  "name": "inventory-api",
  "port": 8080,
  "debug": false,
  "owner": null,
  "database": {
    "url": "postgres://db.internal:5432/inventory",
    "pool_size": 10,
    "timeout_s": 2.5
  },
  "routes": [
    {"path": "/items", "methods": ["GET", "POST"], "auth": true},
    {"path": "/items/{id}", "methods": ["GET", "PUT", "DELETE"], "auth": true},
    {"path": "/health", "methods": ["GET"], "auth": false}
  ],
  "tags": ["prod", "eu-west"],
  "message": "it's \"fine\""
}
JSON
cd /app && python3 service.py
