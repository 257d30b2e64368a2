#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer harnesses of tests/fuzz with Clang in build-fuzz/ and runs them.
#
#   scripts/fuzz.sh --smoke          CI: builds, writes the seeds, runs every harness for
#                                    TRUSTML_FUZZ_SECONDS (15) seconds (ctest -L fuzz); fails on any finding
#   scripts/fuzz.sh [--minutes N]    runs each harness for N minutes (10), one after another on one
#                                    core, in libFuzzer's fork mode (a finding is kept and fuzzing goes
#                                    on), and writes a markdown table of executions, exec/s, corpus
#                                    size, coverage and findings
#     --seconds N                    N seconds each instead (a quick check of the script)
#     --out FILE                     the table (default build-fuzz/fuzz-results.md)
#     --logs DIR                     each fuzzer's log (default build-fuzz/long/logs)
#     --only NAME[,NAME...]          these harnesses only (e.g. fuzz_npy,fuzz_cfl)
#     --no-build                     use build-fuzz/ as it is
#
# Crash, leak, timeout and out-of-memory inputs of the long runs are kept in build-fuzz/findings/<fuzzer>/;
# reproduce one with `build-fuzz/tests/fuzz/<fuzzer> FILE`. Environment: TRUSTML_FUZZ_JOBS (build and
# smoke parallelism, default 2), TRUSTML_FUZZ_SECONDS (smoke time per harness, default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

# Clang with libFuzzer and the sanitizer runtimes, and what the harnesses' readers need (HDF5 for
# fastMRI files, utf8proc for the tokenizer and the model directory).
TRUSTML_FUZZ_PACKAGES="clang-14 libclang-rt-14-dev cmake ninja-build pkg-config libeigen3-dev libfftw3-dev nlohmann-json3-dev zlib1g-dev libstb-dev libhdf5-dev libutf8proc-dev"

mode=long minutes=10 seconds_each="" out="" logs="" only="" build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --minutes) minutes="$2"; seconds_each=""; shift ;;
    --seconds) seconds_each="$2"; shift ;;
    --out) out="$2"; shift ;;
    --logs) logs="$2"; shift ;;
    --only) only="$2"; shift ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "scripts/fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

dir=build-fuzz
jobs="${TRUSTML_FUZZ_JOBS:-2}"
seconds="${TRUSTML_FUZZ_SECONDS:-15}"
start=$(date +%s)

if [ $build = 1 ]; then
  trustml_install_deps $TRUSTML_FUZZ_PACKAGES
  # OpenMP and OpenBLAS are left out: each fuzzer input runs on one thread, reproducibly.
  CXX="${TRUSTML_FUZZ_CXX:-clang++-14}" CC="${TRUSTML_FUZZ_CC:-clang-14}" \
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRUSTML_BUILD_FUZZERS=ON \
    -DTRUSTML_BUILD_TESTS=OFF -DTRUSTML_BUILD_EXAMPLES=OFF -DTRUSTML_CUDA=OFF -DTRUSTML_MPI=OFF \
    -DTRUSTML_USE_BLAS=OFF -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON -DTRUSTML_FUZZ_SECONDS="$seconds" >/dev/null
  cmake --build "$dir" -j "$jobs" --target fuzzers
  echo "scripts/fuzz.sh: built in $(( $(date +%s) - start )) s" >&2
fi

if [ $mode = smoke ]; then
  (cd "$dir" && ctest -L fuzz -j "$jobs" --output-on-failure)
  echo "scripts/fuzz.sh: smoke run passed in $(( $(date +%s) - start )) s (build included)" >&2
  exit 0
fi

# Long runs.
fuzz="$dir/tests/fuzz"
out="${out:-$dir/fuzz-results.md}"
logs="${logs:-$dir/long/logs}"
mkdir -p "$logs" "$dir/findings" "$(dirname "$out")"
seeds="$dir/long/seeds"
"$fuzz/make_seeds" "$seeds" >&2
names=$(cat "$fuzz/fuzzers.txt")
each=$((minutes * 60))
if [ -n "$seconds_each" ]; then each="$seconds_each"; fi
if [ -n "$only" ]; then names=$(echo "$only" | tr ',' '\n'); fi

{
  echo "| fuzzer | seconds | executions | exec/s | corpus (files) | coverage (cov / ft) | findings (crash / timeout / oom) | artifacts |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$out.tmp"
for name in $names; do
  [ -n "$name" ] || continue
  log="$logs/$name.log"
  findings="$dir/findings/$name"
  echo "scripts/fuzz.sh: $name for $each s (log $log)" >&2
  status=0
  # -fork=1: one child process at a time; a crash, timeout or OOM is kept and the run goes on.
  TRUSTML_FUZZ_FINDINGS="$findings" bash tests/fuzz/run_fuzzer.sh "$fuzz/$name" "$seeds/$name" "$dir/long/$name" \
    "$each" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 >"$log" 2>&1 || status=$?
  # Fork mode's status lines: "#RUNS: cov: C ft: F corp: N exec/s E oom/timeout/crash: O/T/X time: Ss ...".
  last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -n 1 || true)
  field() { echo "$last" | sed -nE "s/.*$1: ([0-9]+).*/\\1/p"; }
  runs=$(echo "$last" | sed -nE 's/^#([0-9]+):.*/\1/p')
  elapsed=$(echo "$last" | sed -nE 's/.* time: ([0-9]+)s.*/\1/p')
  ooms=$(echo "$last" | sed -nE 's#.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*#\1#p')
  timeouts=$(echo "$last" | sed -nE 's#.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*#\2#p')
  crashes=$(echo "$last" | sed -nE 's#.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*#\3#p')
  corpus=$(find "$dir/long/$name/corpus" -type f | wc -l)
  artifacts=$(cd "$findings" 2>/dev/null && ls | head -n 5 | tr '\n' ' ' || true)
  rate="?"
  if [ -n "$runs" ] && [ -n "$elapsed" ] && [ "$elapsed" -gt 0 ]; then rate=$((runs / elapsed)); fi
  note=""
  [ $status = 0 ] || note=" (exit $status)"
  echo "| $name | ${elapsed:-?} | ${runs:-?} | $rate | $corpus | $(field cov) / $(field ft) | ${crashes:-?} / ${timeouts:-?} / ${ooms:-?}$note | ${artifacts:-none} |" >>"$out.tmp"
  cp "$out.tmp" "$out"
done
{
  echo
  echo "Finished $(date -u '+%Y-%m-%d %H:%M UTC'); scripts/fuzz.sh, $each s a fuzzer (seconds: as libFuzzer counted them), on $(nproc) cores ($(uname -m)),"
  echo "$("${TRUSTML_FUZZ_CXX:-clang++-14}" --version | head -n 1); artifacts in $dir/findings/<fuzzer>/, logs in $logs/."
} >>"$out.tmp"
mv "$out.tmp" "$out"
echo "scripts/fuzz.sh: results in $out" >&2
