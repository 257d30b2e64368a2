#!/usr/bin/env bash
# The README's first command: builds and runs the demo, the reference small CNN trained on
# Fashion-MNIST (Debian's dataset-fashion-mnist); extra arguments go to train_classifier.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
trustml_install_deps
TRUSTML_BUILD_DIR=build trustml_build -DTRUSTML_BUILD_TESTS=OFF -DTRUSTML_BUILD_EXAMPLES=ON -DTRUSTML_CUDA=OFF
exec build/examples/train_classifier --out build/train_classifier_out "$@"
