#!/usr/bin/env bash
# bench/compile_time.sh: wall time and peak RSS of compiling a file that only includes
# <trustml/trustml.hpp>, with the project's include dirs (include/, Eigen) and -fopenmp:
#
#   g++ -std=c++20 -O2 -fopenmp -I include -I /usr/include/eigen3 -c umbrella.cpp
#
# Target: <= 4 s. It also times, for information (no target), a file that instantiates one
# forward + backward of a small model (matmul, add, exp, sum, backward), to show what the templates
# cost once they are used. Each compile runs REPEATS times (default 3); the best wall time and
# the largest peak RSS are reported, since other jobs on the machine can only slow a compile down.
#
# Usage: bench/compile_time.sh [REPEATS]      env: CXX (default g++), EXTRA_FLAGS (e.g. -march=native)
# Needs /usr/bin/time (Debian package `time`; installed with apt-get when missing and run as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx="${CXX:-g++}"
repeats="${1:-3}"
eigen_dir="${EIGEN_DIR:-/usr/include/eigen3}"

if [[ ! -x /usr/bin/time ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get install -y -qq time >/dev/null
  else
    echo "compile_time.sh: /usr/bin/time is missing (apt-get install time)" >&2
    exit 1
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/umbrella.cpp" <<'EOF'
#include <trustml/trustml.hpp>
EOF

cat >"$work/use.cpp" <<'EOF'
#include <trustml/trustml.hpp>
float step() {
  using F = trustml::Tensor<float>;
  F w = F::randn({16, 8}, 1), x = F::randn({4, 16}, 2), b = F::zeros({8});
  w.set_requires_grad();
  b.set_requires_grad();
  F loss = trustml::sum(trustml::exp(trustml::add(trustml::matmul(x, w), b)));
  loss.backward();
  return w.grad().to_vector()[0];
}
EOF

# Seconds from /usr/bin/time's "h:mm:ss" or "m:ss.ss".
to_seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; ++i) s = s * 60 + $i; printf "%.2f", s }' <<<"$1"; }

measure() {
  local name="$1" src="$2" best="" rss_max=0 walls=""
  for ((i = 0; i < repeats; ++i)); do
    # shellcheck disable=SC2086
    /usr/bin/time -v "$cxx" -std=c++20 -O2 -fopenmp ${EXTRA_FLAGS:-} -I"$root/include" -I"$eigen_dir" \
      -c "$src" -o "$work/out.o" 2>"$work/time.log" || { cat "$work/time.log" >&2; exit 1; }
    local wall rss
    wall="$(to_seconds "$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.log")")"
    rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.log")"
    walls+="${walls:+ }$wall"
    if [[ -z "$best" ]] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then best="$wall"; fi
    ((rss > rss_max)) && rss_max="$rss"
  done
  printf '%-10s best wall %6.2f s (runs: %s)   peak RSS %5d MiB\n' "$name" "$best" "$walls" $((rss_max / 1024))
  if [[ "$name" == umbrella ]]; then
    if awk -v a="$best" 'BEGIN { exit !(a <= 4.0) }'; then echo "umbrella target <= 4 s: pass"
    else echo "umbrella target <= 4 s: FAIL"; fi
  fi
}

echo "compiler: $("$cxx" --version | head -n1)"
echo "command:  $cxx -std=c++20 -O2 -fopenmp ${EXTRA_FLAGS:-}${EXTRA_FLAGS:+ }-I$root/include -I$eigen_dir -c FILE"
echo "load:     $(uptime | sed 's/.*load average: //')"
measure umbrella "$work/umbrella.cpp"
measure use "$work/use.cpp"
