#!/usr/bin/env bash
# tests/fuzz/run_fuzzer.sh FUZZER SEEDS WORK SECONDS [libFuzzer option...]: runs one libFuzzer
# harness for SECONDS on a fresh copy of its seed corpus (WORK/corpus: the seeds are never
# written to), keeping crash, leak, timeout and out-of-memory inputs in WORK/findings/ (or in
# $TRUSTML_FUZZ_FINDINGS). Options after SECONDS go to libFuzzer. The exit status is the fuzzer's:
# 0 when it found nothing. Used by the fuzz_* ctest tests and by scripts/fuzz.sh.
set -euo pipefail
fuzzer="$1" seeds="$2" work="$3" seconds="$4"
shift 4
rm -rf "$work/corpus"
findings="${TRUSTML_FUZZ_FINDINGS:-$work/findings}"
mkdir -p "$work/corpus" "$findings"
if [ -d "$seeds" ]; then cp -R "$seeds"/. "$work/corpus"/; fi
# HDF5's own leaks are suppressed (see lsan.supp); the caller's LSAN_OPTIONS come after.
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$@" "$work/corpus"
