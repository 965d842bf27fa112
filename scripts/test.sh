#!/usr/bin/env bash
# test.sh: the full test command (README, CI). Installs missing Debian
# packages, then runs every phase and ends with one line, "N passed, N failed",
# counting every test case of every phase. Exit status 0 only if none failed.
#
#   ./scripts/test.sh            all phases
#   ./scripts/test.sh --quick    build, tests, format and layering only
#
# Phases (docs/testing.md has the details):
#   deps      scripts/install-deps.sh
#   build     gcc -Dwerror=true into build/
#   test      meson test, every suite but 'lint', in build/
#   asan      ASan+UBSan build in build-asan/: suites unit, fuzz-replay, cli
#   valgrind  the unit suite under valgrind (build/, `--setup valgrind`)
#   format    clang-format check of every tracked *.c / *.h
#   layers    DESIGN.md's include layering (tests/lint/layers.sh)
#   fuzz      clang libFuzzer build in build-fuzz/, each target for
#             $VMSNAP_FUZZ_SECONDS seconds (default 20)
set -uo pipefail

cd "$(dirname "$0")/.."
root=$PWD

quick=0
fuzz_seconds=${VMSNAP_FUZZ_SECONDS:-20}
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    -h | --help)
        sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "test.sh: unknown option '$arg'; see ./scripts/test.sh --help" >&2
        exit 2
        ;;
    esac
done

# Setup and build logs (the build dirs themselves may be wiped and recreated).
logs=build-logs
mkdir -p "$logs"

total_passed=0
total_failed=0
summary=()

# record PHASE PASSED FAILED [SKIPPED]
record() {
    local skipped=${4:-0} note=""
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    ((skipped > 0)) && note=", $skipped skipped"
    summary+=("$(printf '  %-10s %4d passed, %d failed%s' "$1" "$2" "$3" "$note")")
}

banner() {
    printf '\n==== %s ====\n' "$*"
}

finish() {
    banner "summary"
    printf '%s\n' "${summary[@]}"
    echo "$total_passed passed, $total_failed failed"
    ((total_failed == 0))
    exit
}

# setup_build DIR COMPILER [MESON OPTIONS...]: configure DIR for COMPILER,
# reusing it when it was set up before with the same compiler.
setup_build() {
    local dir=$1 compiler=$2
    shift 2
    if [[ -f $dir/meson-private/coredata.dat ]] &&
        meson introspect --compilers "$dir" 2>/dev/null | grep -q "\"id\": \"$compiler\""; then
        meson setup --reconfigure "$dir" "$@" >"$logs/$dir.setup.log" 2>&1 && return 0
    fi
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    if ! CC=$compiler meson setup "$dir" "$@" >"$logs/$dir.setup.log" 2>&1; then
        cat "$logs/$dir.setup.log"
        return 1
    fi
}

# build PHASE DIR COMPILER [MESON OPTIONS...]: configure and build everything
# that can be built (ninja -k 0), counting the build as one test.
build() {
    local phase=$1 dir=$2 compiler=$3
    shift 3
    echo "meson setup $dir ($compiler) $*"
    if ! setup_build "$dir" "$compiler" "$@"; then
        echo "test.sh: meson setup $dir failed (log: $logs/$dir.setup.log)"
        record "$phase" 0 1
        return 1
    fi
    if ninja -C "$dir" -k 0 >"$logs/$dir.build.log" 2>&1; then
        echo "built $dir"
        record "$phase" 1 0
        return 0
    fi
    grep -E -A12 '^FAILED:' "$logs/$dir.build.log" | head -n 80
    echo "test.sh: building $dir failed (full log: $logs/$dir.build.log)"
    record "$phase" 0 1
    return 1
}

# meson_tests PHASE DIR "SELECTION" [MESON TEST OPTIONS...]: run the tests
# that SELECTION (select-tests.py's --suite/--no-suite options) picks, without
# rebuilding, and count every case. A test whose program was not built counts
# as failed (meson test would refuse to run anything at all).
meson_tests() {
    local phase=$1 dir=$2 selection=$3 status=0 state name
    shift 3
    local run=() missing=()
    # shellcheck disable=SC2086 # word splitting wanted: --suite X --suite Y
    while read -r state name; do
        if [[ $state == run ]]; then
            run+=("$name")
        else
            missing+=("$name")
        fi
    done < <(python3 scripts/select-tests.py "$dir" $selection)
    if ((${#missing[@]} > 0)); then
        echo "not built, counted as failed: ${missing[*]}"
    fi
    # With --setup NAME meson names the log PHASE-NAME.json.
    rm -f "$dir/meson-logs/$phase.json" "$dir/meson-logs/$phase"-*.json
    if ((${#run[@]} > 0)); then
        meson test -C "$dir" --no-rebuild --print-errorlogs --logbase "$phase" "$@" "${run[@]}"
        status=$?
    elif ((${#missing[@]} == 0)); then
        echo "test.sh: no tests selected in $dir ($selection)"
        status=1
    fi
    local counts
    counts=$(python3 scripts/count-tests.py "$dir/meson-logs/$phase.json" \
        "$dir/meson-logs/$phase"-*.json)
    set -- $counts
    local failed=$(($2 + ${#missing[@]}))
    # meson failing with nothing counted as failed must not pass silently.
    if ((status != 0 && failed == 0)); then
        echo "test.sh: meson test exited $status"
        failed=1
    fi
    record "$phase" "$1" "$failed" "$3"
}

# script_phase PHASE COMMAND...: a check that is one test case.
script_phase() {
    local phase=$1
    shift
    if "$@"; then
        record "$phase" 1 0
    else
        record "$phase" 0 1
    fi
}

fuzz_targets() {
    sed -n "s/^ *'\(fuzz_[a-z0-9_]*\)',\$/\1/p" fuzz/meson.build
}

# fuzz_one TARGET: a bounded libFuzzer run over a scratch copy of the corpus.
fuzz_one() {
    local target=$1 bin=build-fuzz/fuzz/$1 log=build-fuzz/$1.log dict=()
    local work=build-fuzz/corpus-work/$1 artifacts=build-fuzz/artifacts/$1
    if [[ ! -x $bin ]]; then
        echo "$target: not built (see $logs/build-fuzz.build.log)"
        return 1
    fi
    case "$target" in
    fuzz_xl_config) dict=(-dict=fuzz/xl_config.dict) ;;
    fuzz_qmp_message) dict=(-dict=fuzz/qmp.dict) ;;
    fuzz_memstate) dict=(-dict=fuzz/memstate.dict) ;;
    fuzz_qcow2) dict=(-dict=fuzz/qcow2.dict) ;;
    fuzz_journal) dict=(-dict=fuzz/journal.dict) ;;
    *) dict=(-dict=fuzz/xml.dict) ;;
    esac
    mkdir -p "$work" "$artifacts"
    echo "$bin -max_total_time=$fuzz_seconds ${dict[*]} $work fuzz/corpus/$target"
    # New inputs go to the scratch dir (first argument), never the committed corpus.
    if "$bin" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
        "$work" "fuzz/corpus/$target" >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units)' "$log" | tr '\n' ' '
        echo
        return 0
    fi
    tail -n 60 "$log"
    echo "$target: FAILED; reproducer saved in $artifacts/ (full log: $log)"
    echo "  reproduce: $bin $artifacts/<file>   (then add it to fuzz/corpus/$target/)"
    return 1
}

banner "deps: scripts/install-deps.sh"
if ! ./scripts/install-deps.sh; then
    record deps 0 1
    finish
fi
record deps 1 0

banner "build: gcc -Dwerror=true in build/"
build build build gcc -Dwerror=true

banner "test: meson test in build/ (every suite but lint)"
meson_tests test build "--no-suite lint"

if ((!quick)); then
    banner "asan: ASan+UBSan in build-asan/ (unit, fuzz-replay, cli)"
    export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1
    export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
    build asan-build build-asan gcc -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all
    meson_tests asan build-asan "--suite unit --suite fuzz-replay --suite cli"
    unset ASAN_OPTIONS UBSAN_OPTIONS

    banner "valgrind: unit suite under valgrind in build/"
    meson_tests valgrind build "--suite unit" --setup valgrind
fi

banner "format: clang-format check"
script_phase format tests/lint/format.sh "$root"

banner "layers: include layering (DESIGN.md)"
script_phase layers tests/lint/layers.sh "$root"

if ((!quick)); then
    banner "fuzz: libFuzzer, ${fuzz_seconds}s per target, in build-fuzz/"
    if ! command -v clang >/dev/null 2>&1; then
        echo "clang not found: fuzz phase skipped (scripts/install-deps.sh installs it)"
        record fuzz 0 0 1
    else
        mapfile -t targets < <(fuzz_targets)
        # Only the fuzz targets: with clang's static sanitizer runtime the
        # shared library cannot link with --no-undefined, and is not needed.
        echo "meson setup build-fuzz (clang) -Dfuzzing=true"
        if setup_build build-fuzz clang -Dfuzzing=true; then
            outputs=()
            for t in "${targets[@]}"; do
                outputs+=("fuzz/$t" "fuzz/${t}_replay")
            done
            ninja -C build-fuzz -k 0 "${outputs[@]}" >"$logs/build-fuzz.build.log" 2>&1 ||
                grep -E -A12 '^FAILED:' "$logs/build-fuzz.build.log" | head -n 60
        else
            echo "test.sh: meson setup build-fuzz failed (log: $logs/build-fuzz.setup.log)"
        fi
        passed=0 failed=0
        for t in "${targets[@]}"; do
            if fuzz_one "$t"; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
            fi
        done
        record fuzz "$passed" "$failed"
    fi
fi

finish
