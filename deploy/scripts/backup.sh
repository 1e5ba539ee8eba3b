#!/usr/bin/env bash
# Automated database backup with retention (the operations guide's backup.sh).
# Thin wrapper around `rsf-ops backup`: dump every collection of MONGODB_DB (rsf-utility) to
# BACKUP_STORAGE_PATH/rsf_backup_YYYYmmdd_HHMMSS.tar.gz, verify it, delete archives older than
# BACKUP_RETENTION_DAYS (30). Cron: 0 2 * * * /path/to/deploy/scripts/backup.sh >> /var/log/rsf-backup.log 2>&1
set -euo pipefail

export BACKUP_STORAGE_PATH="${BACKUP_STORAGE_PATH:-/backups/mongodb}"
exec rsf-ops backup "$@"
