#!/bin/sh
# fuzz/run.sh -- builds and runs Kairos's fuzz targets (clang libFuzzer with
# AddressSanitizer and UBSan; AFL++ for long runs).  See fuzz/README.md.
#
#   sh fuzz/run.sh smoke              build, replay the regression inputs, then
#                                     fuzz each target for $FUZZ_SMOKE_SECONDS
#                                     (default 60) -- what CI runs
#   sh fuzz/run.sh build [SECONDS]    build, then fuzz each target for SECONDS
#                                     (default 600); `make fuzz FUZZ_SECONDS=N`
#   sh fuzz/run.sh compile            only build the targets
#   sh fuzz/run.sh run TARGET [SECONDS] [libFuzzer flags...]
#                                     fuzz one target (default: until stopped)
#   sh fuzz/run.sh repro TARGET FILE...
#                                     run the given inputs once (a crash report)
#   sh fuzz/run.sh regress            run every seed and regression input once
#   sh fuzz/run.sh afl TARGET [SECONDS]
#                                     the AFL++ variant (installs afl++ if root)
#
# Environment: FUZZ_TARGETS (default: all targets), FUZZ_JOBS (parallel
# fuzzing processes per target, default 1), CLANG (default clang-14 or clang).
#
# Everything is built under build-fuzz/: libFuzzer objects in build-fuzz/lf/,
# AFL++ objects in build-fuzz/afl/, the growing corpora in
# build-fuzz/corpus/TARGET/ (seeded from fuzz/corpus/TARGET/), crashes in
# build-fuzz/crashes/TARGET/.  A crash makes the run exit 1 after printing
# the input's path; once fixed, copy the input to fuzz/regress/TARGET/ so
# every later run replays it.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=build-fuzz
ALL_TARGETS=$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||' | tr '\n' ' ')
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
JOBS=${FUZZ_JOBS:-1}
SAN="address,undefined"
CFLAGS_COMMON="-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-error -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
PKG_LIBS="$(pkg-config --libs glib-2.0 yaml-0.1 zlib sqlite3 2>/dev/null || echo '-lglib-2.0 -lyaml -lz -lsqlite3') -lyajl -lm -ldl"   # libpq: loaded when used (runtime/src_pg.c)

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

say() { echo "fuzz: $*"; }
die() { echo "fuzz: $*" >&2; exit 1; }

# ---- tool chain ----------------------------------------------------------------

# find_clang -- sets CLANG to a clang with libFuzzer, installing clang-14 and
# libclang-rt-14-dev when missing and running as root (Debian).
find_clang() {
    if [ -z "${CLANG:-}" ]; then
        for c in clang-14 clang; do
            if command -v "$c" >/dev/null 2>&1; then CLANG=$c; break; fi
        done
    fi
    if [ -z "${CLANG:-}" ] || ! libfuzzer_works; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing clang-14 and libclang-rt-14-dev"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                clang-14 libclang-rt-14-dev >/dev/null
            CLANG=clang-14
        else
            echo "fuzz: clang with libFuzzer is missing; run as root:" >&2
            echo "  apt-get install -y clang-14 libclang-rt-14-dev" >&2
            exit 1
        fi
        libfuzzer_works || die "$CLANG cannot build a libFuzzer target (is libclang-rt-14-dev installed?)"
    fi
}

libfuzzer_works() {
    [ -n "${CLANG:-}" ] || return 1
    mkdir -p "$OUT"
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' >"$OUT/probe.c"
    "$CLANG" -fsanitize=fuzzer,$SAN -o "$OUT/probe" "$OUT/probe.c" >/dev/null 2>&1
}

# ---- building ------------------------------------------------------------------

# lib_objects B -- the object files of lang/, runtime/ and the generated
# sources under B, and cli/ files other than main.c (the YAML test loader).
lib_objects() {
    for f in lang/*.c runtime/*.c; do echo "$1/${f%.c}.o"; done
    for f in cli/*.c; do
        case $f in cli/main.c) ;; *) echo "$1/${f%.c}.o" ;; esac
    done
    echo "$1/parser.o $1/lexer.o $1/stdlib_data.o"
}

# build_lib B CC CFLAGS -- compiles the library with the project's Makefile
# (its rules, flags and header dependencies) into B, then archives it.
# Archiving (rather than linking every object) lets a target link while an
# unrelated module is unfinished.
build_lib() {
    b=$1 cc=$2 cflags=$3
    objs=$(lib_objects "$b")
    # shellcheck disable=SC2086
    make -s -k -j"$(nproc 2>/dev/null || echo 2)" B="$b" CC="$cc" CFLAGS="$cflags" $objs || true
    rm -f "$b/libkairos.a"
    present=""
    for o in $objs; do [ -e "$o" ] && present="$present $o"; done
    [ -n "$present" ] || die "nothing of the library compiled"
    # shellcheck disable=SC2086
    ar rcs "$b/libkairos.a" $present
}

# link_target B CC LDSAN NAME -- links fuzz/fuzz_NAME.c into B/fuzz_NAME.
link_target() {
    b=$1 cc=$2 ldsan=$3 name=$4
    src=fuzz/fuzz_$name.c
    [ -e "$src" ] || { say "no $src"; return 1; }
    # shellcheck disable=SC2086
    if ! $cc $CFLAGS_COMMON -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fsanitize=$ldsan \
            -I. -I"$b" $(pkg-config --cflags glib-2.0 yaml-0.1 2>/dev/null) \
            -o "$b/fuzz_$name" "$src" "$b/libkairos.a" $PKG_LIBS >"$b/link_$name.log" 2>&1; then
        say "cannot build fuzz_$name:"
        sed 's/^/    /' "$b/link_$name.log" | head -20
        return 1
    fi
}

# build_libfuzzer -- every selected target, libFuzzer flavour.
build_libfuzzer() {
    find_clang
    b=$OUT/lf
    mkdir -p "$b"
    say "building with $CLANG (-fsanitize=fuzzer,$SAN)"
    build_lib "$b" "$CLANG" "$CFLAGS_COMMON -w -fsanitize=fuzzer-no-link,$SAN"
    failed=""
    for t in $TARGETS; do
        link_target "$b" "$CLANG" "fuzzer,$SAN" "$t" || failed="$failed $t"
    done
    [ -z "$failed" ] || die "targets that do not build:$failed"
}

# ---- corpora -------------------------------------------------------------------

# seeds_of T -- the seed corpus name of target T (replay reads policies,
# kbc_replay bytecode).
seeds_of() {
    case $1 in
    replay) echo policy ;;
    kbc_replay) echo kbc ;;
    *) echo "$1" ;;
    esac
}

# seed_dirs T -- the read-only seed directories of target T that exist.
seed_dirs() {
    for d in "fuzz/corpus/$(seeds_of "$1")" "fuzz/regress/$1" "$OUT/seeds/$(seeds_of "$1")"; do
        [ -d "$d" ] && echo "$d"
    done
    return 0
}

# make_kbc_seeds -- .kbc seeds compiled from the policy seeds with the current
# compiler, so that they match the current file format version.
make_kbc_seeds() {
    kairos=build/kairos
    [ -x "$kairos" ] || return 0
    mkdir -p "$OUT/seeds/kbc"
    for p in fuzz/corpus/policy/*.kai examples/*/policy.kai; do
        [ -e "$p" ] || continue
        n=$(echo "$p" | tr '/' '_')
        "$kairos" compile "$p" -o "$OUT/seeds/kbc/${n%.kai}.kbc" >/dev/null 2>&1 || true
    done
}

dict_of() {
    case $1 in
    policy|replay) echo fuzz/kairos.dict ;;
    csv|gz) echo fuzz/csv.dict ;;
    jsonl|segment) echo fuzz/json.dict ;;
    yaml) echo fuzz/yaml.dict ;;
    *) echo "" ;;
    esac
}

maxlen_of() {
    case $1 in
    kbc|kbc_replay) echo 32768 ;;
    *) echo 8192 ;;
    esac
}

# ---- running -------------------------------------------------------------------

# fuzz_one T SECONDS [flags...] -- runs libFuzzer on target T; 0 if no crash.
fuzz_one() {
    t=$1 secs=$2
    shift 2
    bin=$OUT/lf/fuzz_$t
    [ -x "$bin" ] || die "$bin is not built"
    mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"
    dict=$(dict_of "$t")
    set -- -max_len="$(maxlen_of "$t")" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$OUT/crashes/$t/" "$@"
    [ -n "$dict" ] && [ -e "$dict" ] && set -- -dict="$dict" "$@"
    [ "$secs" -gt 0 ] 2>/dev/null && set -- -max_total_time="$secs" "$@"
    [ "$JOBS" -gt 1 ] && set -- -fork="$JOBS" "$@"
    say "fuzz_$t for ${secs}s"
    # shellcheck disable=SC2046
    st=0
    "$bin" "$@" "$OUT/corpus/$t" $(seed_dirs "$t") >"$OUT/fuzz_$t.log" 2>&1 || st=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)' "$OUT/fuzz_$t.log" | sed 's/^/    /' || true
    if [ $st != 0 ]; then
        say "fuzz_$t FAILED (exit $st); log: $OUT/fuzz_$t.log"
        grep -E 'ERROR|SUMMARY|invariant|Test unit written|^    #[0-9]' "$OUT/fuzz_$t.log" | head -20 | sed 's/^/    /'
        return 1
    fi
    return 0
}

# regress_one T -- runs every seed and regression input of T once.
regress_one() {
    t=$1
    files=""
    for d in $(seed_dirs "$t"); do
        for f in "$d"/*; do [ -f "$f" ] && files="$files $f"; done
    done
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    if ! "$OUT/lf/fuzz_$t" -runs=1 $files >"$OUT/regress_$t.log" 2>&1; then
        say "fuzz_$t crashes on a seed or regression input; log: $OUT/regress_$t.log"
        grep -E 'ERROR|SUMMARY|invariant|Running:' "$OUT/regress_$t.log" | tail -8 | sed 's/^/    /'
        return 1
    fi
    say "fuzz_$t: $(echo $files | wc -w) seed/regression inputs pass"
}

run_all() {
    secs=$1
    make_kbc_seeds
    bad=""
    for t in $TARGETS; do
        regress_one "$t" || { bad="$bad $t"; continue; }
        fuzz_one "$t" "$secs" || bad="$bad $t"
    done
    if [ -n "$bad" ]; then
        say "crashes in:$bad -- inputs:"
        for t in $bad; do ls "$OUT/crashes/$t/" 2>/dev/null | sed "s|^|    $OUT/crashes/$t/|"; done
        exit 1
    fi
    say "no crash in: $TARGETS"
}

# ---- AFL++ ---------------------------------------------------------------------

afl() {
    t=${1:?usage: run.sh afl TARGET [SECONDS]}
    secs=${2:-3600}
    if ! command -v afl-clang-fast >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing afl++"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++ >/dev/null
        else
            echo "fuzz: AFL++ is missing; run as root:  apt-get install -y afl++" >&2
            exit 1
        fi
    fi
    b=$OUT/afl
    mkdir -p "$b" "$OUT/afl-out"
    export AFL_USE_ASAN=1 AFL_USE_UBSAN=1 AFL_QUIET=1 AFL_AUTORESUME=1
    # afl-fuzz needs sanitizers to abort (it watches for the signal)
    export ASAN_OPTIONS="abort_on_error=1:symbolize=0:detect_leaks=0:allocator_may_return_null=1"
    export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:symbolize=0"
    build_lib "$b" afl-clang-fast "$CFLAGS_COMMON -w"
    link_target "$b" afl-clang-fast "fuzzer" "$t" || exit 1
    in=$OUT/afl-in/$t
    rm -rf "$in"
    mkdir -p "$in"
    for d in $(seed_dirs "$t"); do cp "$d"/* "$in"/ 2>/dev/null || true; done
    dict=$(dict_of "$t")
    set -- -i "$in" -o "$OUT/afl-out/$t" -V "$secs"
    [ -n "$dict" ] && set -- "$@" -x "$dict"
    AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
        afl-fuzz "$@" -- "$b/fuzz_$t"
    say "crashes (if any): $OUT/afl-out/$t/default/crashes/"
}

# ---- main ----------------------------------------------------------------------

mode=${1:-smoke}
[ $# -gt 0 ] && shift
case $mode in
smoke)
    build_libfuzzer
    run_all "${FUZZ_SMOKE_SECONDS:-60}" ;;
build)
    build_libfuzzer
    run_all "${1:-600}" ;;
compile)
    build_libfuzzer ;;
run)
    t=${1:?usage: run.sh run TARGET [SECONDS] [flags]}
    secs=${2:-0}
    [ $# -ge 2 ] && shift 2 || shift $#
    TARGETS=$t build_libfuzzer
    make_kbc_seeds
    fuzz_one "$t" "$secs" "$@" || exit 1 ;;
repro)
    t=${1:?usage: run.sh repro TARGET FILE...}
    shift
    TARGETS=$t build_libfuzzer
    "$OUT/lf/fuzz_$t" -runs=1 "$@" ;;
regress)
    build_libfuzzer
    make_kbc_seeds
    bad=0
    for t in $TARGETS; do regress_one "$t" || bad=1; done
    exit $bad ;;
afl)
    afl "$@" ;;
*)
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
