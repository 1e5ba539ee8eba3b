#!/usr/bin/env bash
# Database restoration (the operations guide's restore script): ./restore.sh <backup_file.tar.gz>
# Thin wrapper around `rsf-ops restore`: verify, drop and restore every collection, check the
# collection count and the server's /health. Pass --yes to skip the confirmation.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "Usage: $0 <backup_file.tar.gz> [--yes]" >&2
    exit 1
fi
exec rsf-ops restore "$@"
