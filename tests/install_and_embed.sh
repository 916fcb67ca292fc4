#!/bin/sh
# Installs the built tree into a temporary prefix, then builds the examples
# against the *installed* library twice — with pkg-config and with
# find_package — and runs them. Usage: install_and_embed.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name pkgconfig -type d | head -n 1)
export PKG_CONFIG_PATH="$libdir"
export LD_LIBRARY_PATH="$(dirname "$libdir")"
flags=$(pkg-config --cflags --libs pathflow)
cc -std=c11 -O2 "$src/examples/embed_custom_target.c" $flags -lm -o "$prefix/c_pkgconfig"
c++ -O2 "$src/examples/embed_cpp.cpp" $flags -o "$prefix/cpp_pkgconfig"
echo "pkg-config build:"
"$prefix/c_pkgconfig"
"$prefix/cpp_pkgconfig"
cmake -S "$src/examples" -B "$prefix/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/build" >/dev/null
echo "find_package build:"
"$prefix/build/embed_custom_target" | tee "$prefix/out.txt"
"$prefix/build/embed_cpp"
grep -q "+/-" "$prefix/out.txt"
echo "install_and_embed: ok"
