#!/usr/bin/env bash
# Configures (once) and builds the release preset into build/; extra arguments are
# build targets (default: all). Uses every core; ccache keeps rebuilds short.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -f build/build.ninja ]; then cmake --preset release; fi
start=$(date +%s)
if [ $# -gt 0 ]; then
  cmake --build build --target "$@"
else
  cmake --build build
fi
echo "build: $(( $(date +%s) - start )) s"
