#!/usr/bin/env bash
# The long soak: tests/soak.rs in release mode with many polls (2,000 by
# default, about half an hour), printing the figures (polls, time, resident
# memory after warm-up and at the end, the faults injected and the reads
# judged).
#
#   ./scripts/soak.sh                   2,000 polls, the default seed
#   SOAK_POLLS=500 ./scripts/soak.sh    another count
#   SOAK_SEED=42 ./scripts/soak.sh      another seed (the seed is printed)
#
# Needs promtool on PATH (./scripts/test-all.sh setup installs it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SOAK_POLLS="${SOAK_POLLS:-2000}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

command -v promtool >/dev/null || {
    echo "promtool is not on PATH: run ./scripts/test-all.sh setup (or apt-get install prometheus)" >&2
    exit 1
}

start=$SECONDS
cargo test --release -p secrets-rotation-exporter --test soak -- --nocapture
printf 'soak.sh: %s polls passed in %ds (build included)\n' "$SOAK_POLLS" "$((SECONDS - start))"
