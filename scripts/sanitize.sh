#!/usr/bin/env bash
# scripts/sanitize.sh [--ci] [--jobs N]: builds build-sanitize/ with AddressSanitizer and
# UndefinedBehaviorSanitizer (-DTRUSTML_SANITIZE=address,undefined, -O1 -g, no CUDA) and runs the
# tests under them. Any ASan or UBSan report, and any leak, fails the test that ran into it.
#
#   bash scripts/sanitize.sh          # every test and example (as scripts/test.sh, less CUDA)
#   bash scripts/sanitize.sh --ci     # only test_core, test_autograd, test_io and test_mri_io (CI)
#   --jobs N                          # parallel compile jobs (default 2)
#
# Under AddressSanitizer the block cache hands every allocation straight to operator new
# (device/block_cache.hpp), so that ASan sees small overflows and uses after free.
# scripts/sanitize/lsan.supp suppresses leak reports from third-party libraries only.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) ci=1 ;;
    --jobs) jobs="$2"; shift ;;
    --jobs=*) jobs="${1#--jobs=}" ;;
    *) echo "usage: scripts/sanitize.sh [--ci] [--jobs N]" >&2; exit 2 ;;
  esac
  shift
done

. scripts/deps.sh
trustml_install_deps $TRUSTML_DEMO_PACKAGES $TRUSTML_TEST_PACKAGES
dir=build-sanitize
options=(-DTRUSTML_SANITIZE=address,undefined -DTRUSTML_CUDA=OFF -DTRUSTML_BUILD_TESTS=ON
         -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG")
ci_tests=(test_core test_autograd test_io test_mri_io)
if [ $ci = 1 ]; then
  options+=(-DTRUSTML_BUILD_EXAMPLES=OFF)
  targets=("${ci_tests[@]}")
  select=(-R "^($(IFS='|'; echo "${ci_tests[*]}"))\$")
else
  # The Python interop tests and the MiniLM files: the same environment as scripts/test.sh's
  # (build/pyenv), so that the 80 MB model is downloaded once. Python itself is not instrumented;
  # the interop tests run the instrumented tools as child processes.
  TRUSTML_BUILD_DIR=build trustml_python_env
  trustml_minilm
  options+=(-DTRUSTML_BUILD_EXAMPLES=ON -DTRUSTML_TEST_PYTHON="$TRUSTML_PYTHON"
            -DTRUSTML_MINILM_DIR="$TRUSTML_MINILM_DIR")
  targets=(all)
  select=()
fi
cmake -S . -B "$dir" -G Ninja "${options[@]}" >/dev/null
cmake --build "$dir" -j "$jobs" --target "${targets[@]}"

# halt_on_error: the first report ends the process with an error; detect_leaks: LeakSanitizer at
# exit; detect_stack_use_after_return: stack frames of returned functions stay poisoned.
supp="$PWD/scripts/sanitize"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1:print_summary=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:print_summary=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
cd "$dir"
status=0
ctest --output-on-failure --timeout 3000 "${select[@]}" -E '^test_mpi_cge_' || status=$?
if [ $ci = 0 ]; then
  # OpenMPI leaks in MPI_Init and MPI_Finalize: the slow unwinder gives its leaks whole stacks, which
  # reach the libraries that lsan.supp names.
  ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" ctest --output-on-failure --timeout 3000 -R '^test_mpi_cge_' ||
    status=$?
fi
exit $status
