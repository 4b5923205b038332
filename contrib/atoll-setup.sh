#!/usr/bin/env bash
# contrib/atoll-setup.sh - installs what Atoll needs from Debian, builds it, and runs
# either the main job (demo) or the whole test suite (test). Run as root on Debian 12.
#   bash contrib/atoll-setup.sh demo    # build, then boot the demo VM and attach its console
#   bash contrib/atoll-setup.sh test    # build, then run every test; last line "N passed, N failed, N skipped"
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
MODE=${1:-}
case "$MODE" in demo|test|build|deps) ;; *)
    echo "usage: $0 demo|test|build|deps" >&2; exit 2 ;;
esac

# Everything the build, the tests and the benchmarks use, by Debian package name.
PACKAGES="autoconf automake libtool pkg-config make gcc libc6-dev linux-libc-dev
  liblua5.4-dev libevent-dev libssl-dev libxml2-dev libsqlite3-dev libpcap-dev zlib1g-dev
  python3 qemu-system-x86 qemu-utils acpica-tools nginx-light wrk iproute2 socat iputils-ping
  clang libclang-rt-14-dev fio etcd-server busybox"

install_deps() {
    local missing=()
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "atoll-setup: missing packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "atoll-setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
    if [ ! -x configure ] || [ configure.ac -nt configure ]; then
        autoreconf -fi >/dev/null
        cp "$(automake --print-libdir)/tap-driver.sh" build-aux/
    fi
    if [ ! -f Makefile ]; then
        ./configure --enable-werror >/dev/null
    fi
    make -j"$(nproc)" >/dev/null
}

# Sums automake's per-directory summaries into one closing line.
summarize() {
    local pass=0 fail=0 skip=0 n
    while IFS= read -r log; do
        n=$(sed -n 's/^# PASS: *//p' "$log" | head -1); pass=$((pass + ${n:-0}))
        for k in FAIL ERROR XPASS; do
            n=$(sed -n "s/^# $k: *//p" "$log" | head -1); fail=$((fail + ${n:-0}))
        done
        n=$(sed -n 's/^# SKIP: *//p' "$log" | head -1); skip=$((skip + ${n:-0}))
        n=$(sed -n 's/^# XFAIL: *//p' "$log" | head -1); pass=$((pass + ${n:-0}))
    done < <(find . -name test-suite.log -newer "$1")
    echo "$pass passed, $fail failed, $skip skipped"
    [ "$fail" -eq 0 ]
}

# Xen Orchestra's xen-api connector, from the npm registry, as an independent XenAPI client
# for the integration tests. Kept out of the tree's sources (tests/.npm is ignored by git).
install_test_clients() {
    local dir="$TOP/tests/.npm/xen-api"
    if ! command -v npm >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || return 0
    fi
    if [ ! -f "$dir/node_modules/xen-api/package.json" ]; then
        mkdir -p "$dir"
        (cd "$dir" && npm install --silent --no-audit --no-fund xen-api@4.7.6 >/dev/null 2>&1) ||
            echo "atoll-setup: could not install xen-api from npm; its test will be skipped" >&2
    fi
    [ -f "$dir/node_modules/xen-api/package.json" ] && export ATOLL_XEN_API_DIR="$dir"
    return 0
}

install_deps
[ "$MODE" = deps ] && exit 0
build
case "$MODE" in
build) ;;
test)
    install_test_clients
    stamp=$(mktemp)
    status=0
    make -k check || status=$?
    find . -name '*.log' -path '*tests*' -newer "$stamp" -exec grep -l -E '^(not ok|FAIL|ERROR)' {} + 2>/dev/null \
        | grep -v test-suite.log | while read -r f; do echo "=== $f"; tail -n 40 "$f"; done || true
    summarize "$stamp" || status=1
    rm -f "$stamp"
    exit $status
    ;;
demo)
    exec "$TOP/contrib/atoll-demo.sh"
    ;;
esac
