#!/usr/bin/env bash
# Regenerates reference.txt: pulse statistics computed by aihwkit's own C++ device code.
# Downloads the aihwkit 1.2.0 source distribution from PyPI (no wheel needed), compiles its
# CPU simulator sources (rpucuda/*.cpp, double precision, OpenBLAS) and links harness.cpp,
# which only calls aihwkit's public device API. Takes a few minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK:-/tmp/dfcsim_aihwkit_ref}"
mkdir -p "$work/obj"
if [ ! -f /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -f /usr/include/cblas.h ]; then
  apt-get update -qq && apt-get install -y -qq libopenblas-dev
fi
cd "$work"
[ -f aihwkit-1.2.0.tar.gz ] || pip download aihwkit==1.2.0 --no-deps --no-binary :all: -d .
[ -d aihwkit-1.2.0 ] || tar xzf aihwkit-1.2.0.tar.gz
src="$work/aihwkit-1.2.0/src/rpucuda"
flags=(-O2 -std=c++17 -fopenmp -w -DRPU_USE_OPENBLAS -DRPU_USE_DOUBLE -I"$src" -I/usr/include/x86_64-linux-gnu)
for f in "$src"/*.cpp; do
  case "$f" in *_test.cpp) continue ;; esac
  o="$work/obj/$(basename "$f").o"
  [ -f "$o" ] || g++ "${flags[@]}" -c "$f" -o "$o"
done
g++ "${flags[@]}" "$here/harness.cpp" "$work"/obj/*.o -lopenblas -o "$work/harness"
OMP_NUM_THREADS=1 "$work/harness" > "$here/reference.txt"
echo "wrote $here/reference.txt"
