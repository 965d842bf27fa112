#!/usr/bin/env bash
# layers.sh: enforce DESIGN.md's layering through #include lines.
#
#   tools > api > core > conf > store > qemu > memstate > qcow2 > util
#
# A layer includes only itself and layers below it; conf does not include
# store or qemu (formats do no I/O); tools/ includes only the public
# <vmsnap/...> headers and its own; public headers include only standard C
# headers; only src/conf/*.c includes libxml2 and only src/qemu/ json-c
# (docs/adr/0001). tests/, fuzz/ and bench/ are
# not checked: they test internals on purpose.
#
# Usage: layers.sh [SOURCE_ROOT]   Prints each violation as file:line: why.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

layers=(util qcow2 memstate qemu store conf core api)
declare -A rank=()
for i in "${!layers[@]}"; do
    rank[${layers[$i]}]=$i
done
# Pairs "from:to" that the rank order allows but the design forbids.
forbidden_pairs=" conf:store conf:qemu "

include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*([<"])([^>"]+)[>"]'

violations=0
report() {
    echo "$1: $2"
    violations=$((violations + 1))
}

# The layer a repository path belongs to: a name from $layers, "tools",
# "public", or "" for paths this lint does not judge.
layer_of() {
    case "$1" in
    tools/*) echo tools ;;
    include/vmsnap/*) echo public ;;
    src/*/*)
        local l=${1#src/}
        echo "${l%%/*}"
        ;;
    *) echo "" ;;
    esac
}

# The layer an include refers to, given the including file's layer and
# directory: "public", a layer, "libxml", "glib", "json", "system" or "own".
include_target() {
    local kind=$1 path=$2 dir=$3
    if [[ $kind == '<' ]]; then
        case "$path" in
        vmsnap/*) echo public ;;
        libxml/*) echo libxml ;;
        glib.h | glib/* | gio/* | glib-*) echo glib ;;
        json-c/* | json.h | json-glib/*) echo json ;;
        *) echo system ;;
        esac
        return
    fi
    if [[ $path == */* ]]; then
        local first=${path%%/*}
        if [[ -n ${rank[$first]+x} ]]; then
            echo "$first"
            return
        fi
        # Relative paths ("../core/x.h") are judged by where they land.
        local resolved
        resolved=$(realpath -m --relative-to=. "$dir/$path")
        local l
        l=$(layer_of "$resolved")
        echo "${l:-own}"
        return
    fi
    echo own
}

check_file() {
    local file=$1 from dir lineno line kind path to
    from=$(layer_of "$file")
    [[ -n $from ]] || return 0
    dir=$(dirname "$file")
    if [[ $from != tools && $from != public && -z ${rank[$from]+x} ]]; then
        report "$file:1" "unknown layer '$from': add it to tests/lint/layers.sh and DESIGN.md"
        return 0
    fi
    while IFS= read -r line; do
        lineno=${line%%:*}
        line=${line#*:}
        [[ $line =~ $include_re ]] || continue
        kind=${BASH_REMATCH[1]}
        path=${BASH_REMATCH[2]}
        to=$(include_target "$kind" "$path" "$dir")
        check_include "$file:$lineno" "$file" "$from" "$to" "$path"
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$file" || true)
}

check_include() {
    local where=$1 file=$2 from=$3 to=$4 path=$5
    if [[ $to == libxml ]]; then
        [[ $file == src/conf/*.c ]] ||
            report "$where" "includes <$path>: only src/conf/*.c may use libxml2"
        return
    fi
    if [[ $to == json ]]; then
        [[ $file == src/qemu/* ]] ||
            report "$where" "includes <$path>: only src/qemu/ may use json-c (docs/adr/0001)"
        return
    fi
    case "$from" in
    public)
        case "$to" in
        system | public | own) ;;
        *) report "$where" "public header includes '$path': public headers use standard C headers only" ;;
        esac
        ;;
    tools)
        case "$to" in
        system | glib | json | public | own) ;;
        *) report "$where" "tools/ includes '$path' from src/$to: the CLI uses only <vmsnap/...>" ;;
        esac
        ;;
    *)
        case "$to" in
        system | glib | json | public | own) ;;
        tools) report "$where" "src/$from includes '$path' from tools/" ;;
        *)
            if ((rank[$to] > rank[$from])); then
                report "$where" "src/$from includes '$path' from src/$to, a higher layer"
            elif [[ $forbidden_pairs == *" $from:$to "* ]]; then
                report "$where" "src/$from may not include src/$to ('$path')"
            fi
            ;;
        esac
        ;;
    esac
}

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && [[ -z ${LAYERS_NO_GIT:-} ]]; then
    # Tracked and new (untracked, not ignored) files alike.
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
        'src/*.c' 'src/*.h' 'tools/*.c' 'tools/*.h' 'include/*.h' | sort -u)
else
    mapfile -t files < <(find src tools include -name '*.[ch]' 2>/dev/null | sort)
fi

for f in "${files[@]}"; do
    [[ -f $f ]] && check_file "$f"
done

if ((violations > 0)); then
    echo "layers: $violations violation(s) of DESIGN.md's layering in ${#files[@]} files"
    exit 1
fi
echo "layers: ${#files[@]} files follow DESIGN.md's layering"
