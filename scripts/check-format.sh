#!/usr/bin/env bash
# Checks that every C++ source is formatted as .clang-format says (Google style,
# 100 columns). Pinned to clang-format 14 (Debian 12), since other versions
# format some constructs differently. To fix: scripts/check-format.sh --fix
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
CF=$(command -v clang-format-14 || true)
if [[ -z "$CF" ]]; then
  echo "check-format: clang-format-14 is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cc' '*.h' 2>/dev/null || find . -name '*.cc' -o -name '*.h' | grep -v '^./build')
if [[ "${1:-}" == --fix ]]; then
  "$CF" -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (scripts/check-format.sh --fix)"
    bad=1
  fi
done
exit $bad
