#!/usr/bin/env bash
# The README's first command: builds and runs the demo, the reference small CNN trained on
# Fashion-MNIST (Debian's dataset-fashion-mnist). It installs only what the demo needs and builds
# only examples/train_classifier, in build-demo/ (test.sh builds everything in build/). The build's
# output goes to stderr, so stdout carries the example's alone, ending in its JSON line. Extra
# arguments go to train_classifier (--help lists them); without --out it writes to
# build-demo/train_classifier_out.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
trustml_install_deps $TRUSTML_DEMO_PACKAGES
trustml_build build-demo train_classifier -DTRUSTML_BUILD_TESTS=OFF -DTRUSTML_BUILD_EXAMPLES=ON \
  -DTRUSTML_CUDA=OFF -DTRUSTML_MPI=OFF -DTRUSTML_HDF5=OFF
out=(--out build-demo/train_classifier_out)
for arg in "$@"; do
  case "$arg" in --out | --out=*) out=() ;; esac
done
exec build-demo/examples/train_classifier "${out[@]}" "$@"
