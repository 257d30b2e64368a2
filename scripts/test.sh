#!/usr/bin/env bash
# The README's second command: builds everything in build/ (the CUDA sources too, whenever nvcc is
# installed) and runs all tests. Without a GPU, ctest reports the GPU cases (test_cuda) as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
trustml_install_deps $TRUSTML_DEMO_PACKAGES $TRUSTML_TEST_PACKAGES
TRUSTML_BUILD_DIR=build trustml_python_env
trustml_minilm
# Said explicitly, not left to the cache: a build/ configured once without nvcc (or with
# -DTRUSTML_CUDA=OFF) would otherwise keep skipping the CUDA sources after nvcc is installed.
cuda=OFF
if [ -n "${CUDACXX:-}" ] || command -v nvcc >/dev/null; then cuda=ON; fi
trustml_build build all -DTRUSTML_BUILD_TESTS=ON -DTRUSTML_BUILD_EXAMPLES=ON -DTRUSTML_CUDA=$cuda \
  -DTRUSTML_TEST_PYTHON="$TRUSTML_PYTHON" -DTRUSTML_MINILM_DIR="$TRUSTML_MINILM_DIR"
cd build
ctest --output-on-failure --timeout 1500
