#!/bin/sh
# cmake --install into a temporary prefix, then `import pathflow` from a clean
# environment (no PATHFLOW_LIBRARY, no LD_LIBRARY_PATH): the installed package
# must find the installed library by itself, and run a small computation.
# Also checks that the install directory under /usr/local (the default
# prefix) is on the interpreter's own sys.path.
# usage: install_test.sh BUILD_DIR PYTHON PYTHON_INSTALL_DIR
set -eu
build=$1 python=$2 pydir=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/$pydir/pathflow/__init__.py"
test -f "$prefix/$pydir/pathflow/_install.py"
cd "$prefix"
env -i PATH=/usr/bin:/bin HOME="$prefix" PYTHONPATH="$prefix/$pydir" OPENBLAS_NUM_THREADS=1 \
    "$python" -c "
import os, sys
import pathflow as pf
lib = os.path.realpath(pf.library_path)
assert lib.startswith(os.path.realpath('$prefix')), 'library not the installed one: ' + lib
t = pf.Target.mgm(2, 1.0, 0.5)
S = t.action([[1.0, 1.0]])
assert abs(S[0] - t.action([[-1.0, 1.0]])[0]) < 1e-14
print('installed pathflow', pf.__version__, 'library', pf.library_version, 'at', lib)
"
"$python" -c "
import sys
d = '/usr/local/$pydir'
assert d in sys.path, d + ' is not on sys.path: ' + repr(sys.path)
print(d, 'is on sys.path')
"
