#!/usr/bin/env bash
# Benchmark for BENCHMARKS.md `## validate`: generate a 1,000,000-row CSV, validate it in release
# mode, report wall time and peak RSS. Usage: scripts/bench/validate.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rows="${1:-1000000}"
out="${TMPDIR:-/tmp}/livebatch-big.csv"
cargo build --release --quiet --bin livebatch --example gen_csv
./target/release/examples/gen_csv "$rows" "$out"
ls -l "$out"
for i in 1 2 3; do
  /usr/bin/time -f "run $i: %e s wall, %M KB max RSS" \
    ./target/release/livebatch validate --now 2027-03-01T00:00:00Z "$out"
done
