#!/usr/bin/env bash
# RSF Utility health check (the operations guide's deploy/scripts/health-check.sh).
# Thin wrapper: the checks live in `rsf-ops health-check` (backend /health and /health/detailed,
# database ping, disk and memory at 90%, sign-token). Exit 0 healthy, 1 not.
# Reads BACKEND_URL, MONGODB_URI (or MONGODB_HOST=host:port), TIMEOUT. -m host:port sets the
# database like the guide's script.
set -euo pipefail

args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -m) export MONGODB_HOST="$2"; shift 2 ;;
        -b) export BACKEND_URL="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

exec rsf-ops health-check "${args[@]+"${args[@]}"}"
