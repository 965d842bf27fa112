#!/usr/bin/env bash
# format.sh: every tracked *.c / *.h file must be formatted as .clang-format
# says. Prints the files that are not, with a diff of the first few, and the
# command that fixes them.
#
# Usage: format.sh [SOURCE_ROOT]
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

if ! command -v clang-format >/dev/null 2>&1; then
    echo "format: clang-format not found; install it (scripts/install-deps.sh does)"
    exit 77 # meson: skipped
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- '*.c' '*.h')
else
    mapfile -t files < <(find . -path ./build\* -prune -o -name '*.[ch]' -print | sed 's|^\./||' | sort)
fi

bad=()
for f in "${files[@]}"; do
    [[ -f $f ]] || continue # deleted in the work tree, not yet committed
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then
        bad+=("$f")
    fi
done

if ((${#bad[@]} == 0)); then
    echo "format: ${#files[@]} files formatted ($(clang-format --version | head -n1))"
    exit 0
fi

for f in "${bad[@]:0:3}"; do
    clang-format --style=file "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - |
        head -n 40 || true
done
echo "format: ${#bad[@]} of ${#files[@]} files are not formatted:"
printf '    %s\n' "${bad[@]}"
echo "format: fix with: clang-format -i ${bad[*]}"
exit 1
