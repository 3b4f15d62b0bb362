#!/usr/bin/env bash
# The documented soak run: one Bridgecast process for an hour under churn
# (publishers reconnecting, viewers coming and going), printing RSS over time
# and failing on memory growth, stuck sessions or lost recording segments.
#
#   scripts/soak.sh                 # 60 minutes
#   scripts/soak.sh --minutes 2     # a quick try
#   scripts/soak.sh --hls           # also check HLS recordings under DATA_DIR
#
# Output goes to the terminal and to .bench/soak-<time>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bench
log=".bench/soak-$(date -u +%Y%m%dT%H%M%SZ).log"
node --import tsx bench/soak.ts "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
