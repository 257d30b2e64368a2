#!/usr/bin/env bash
# The README's second command: builds everything (CUDA sources too, when nvcc is installed) and runs
# all tests. Without a GPU, ctest reports the GPU cases (test_cuda) as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
trustml_install_deps
TRUSTML_BUILD_DIR=build trustml_python_env
trustml_minilm
TRUSTML_BUILD_DIR=build trustml_build -DTRUSTML_BUILD_TESTS=ON -DTRUSTML_BUILD_EXAMPLES=ON \
  -DTRUSTML_TEST_PYTHON="$TRUSTML_PYTHON" -DTRUSTML_MINILM_DIR="$TRUSTML_MINILM_DIR"
cd build
ctest --output-on-failure --timeout 1500
