#!/bin/sh
# tests/unit/hypervisor/virtio/fuzz_vq.sh - bounded libFuzzer run (20 s) of the
# virtqueue parser with ASan/UBSan. Skipped (with the reason) when clang/libFuzzer is absent.
fz=./test_fuzz_vq_libfuzzer
if [ ! -x "$fz" ]; then
    echo "1..0 # SKIP clang with libFuzzer not found at configure time (apt-get install clang libclang-rt-14-dev)"
    exit 0
fi
dir=$(mktemp -d /tmp/atoll-fuzz-vq.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
echo "1..2"
timeout 120 "$fz" -max_total_time=20 -seed=1 -rss_limit_mb=2048 -max_len=32768 \
    -print_final_stats=1 "$dir" > "$dir/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
cov=$(grep -o "DONE *cov: [0-9]*" "$dir/log" | grep -o "[0-9]*$")
if [ "$rc" -eq 0 ]; then
    echo "ok 1 - libFuzzer ran 20 s over the virtqueue parser without a crash"
else
    echo "not ok 1 - libFuzzer found a problem (exit $rc)"
    tail -n 40 "$dir/log" | sed 's/^/# /'
fi
if [ -n "$runs" ] && [ "$runs" -gt 1000 ]; then
    echo "ok 2 - $runs inputs executed (coverage: ${cov:-?} edges)"
else
    echo "not ok 2 - too few inputs executed ($runs)"
fi
