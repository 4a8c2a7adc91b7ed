#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through swiftc -sanitize=fuzzer) of the protocol decoder,
# the KTAP parser and the scenario, matrix and recipe parsers, for a fixed time each. Not part
# of CI: run by hand, like the benchmarks. The YAML target builds HandoverMatrix and its
# dependencies with coverage instrumentation the first time (several minutes).
#
#   Benchmarks/fuzz/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Prints, per target, the executions, the coverage reached and the crashes found; crash inputs
# are kept in .build/fuzz/TARGET/crashes/, and a summary goes to Benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=.build/fuzz
mkdir -p "$out" Benchmarks/results

build() {  # name, sources...
  local name=$1; shift
  swiftc -sanitize=fuzzer -parse-as-library -Onone -g -module-name "Fuzz_$name" "$@" -o "$out/$name/fuzz-$name"
}

seed() {  # name, seed lines...
  local name=$1; shift
  mkdir -p "$out/$name/corpus" "$out/$name/crashes"
  local i=0
  for line in "$@"; do printf '%s' "$line" > "$out/$name/corpus/seed-$i"; i=$((i + 1)); done
}

mkdir -p "$out/protocol" "$out/ktap" "$out/yaml"
echo "fuzz: building the targets"
build protocol $(find Sources/HandoverCore -name '*.swift') Benchmarks/fuzz/protocol.swift
build ktap Sources/HandoverResults/Models/KTAPParser.swift Benchmarks/fuzz/ktap.swift
swift build --package-path Benchmarks/fuzz/yaml --scratch-path "$out/yaml-build" -Xswiftc -sanitize=fuzzer >/dev/null
cp "$out/yaml-build/debug/FuzzYAML" "$out/yaml/fuzz-yaml"

seed protocol \
  '{"v":1,"type":"hello","body":{"stage":1}}' \
  '{"v":1,"type":"quiesce","body":{}}' \
  '{"v":1,"type":"start","body":{}}' \
  '{"v":1,"type":"exec","body":{"path":"/x","arguments":["-s","1"],"timeoutSeconds":5}}' \
  '{"v":1,"type":"failed","body":{"step":"kexec","message":"EPERM"}}'
seed ktap \
  $'TAP version 13\n1..3\nok 1 first\nnot ok 2 second # SKIP no luo\nok 3 third\n# Totals: pass:2 fail:0 skip:1\n' \
  $'KTAP version 1\n1..1\n  ok 1 sub\nnot ok 1 top\nBail out! broken\n'

mkdir -p "$out/yaml/corpus" "$out/yaml/crashes"
i=0
for pair in "0:Scenarios" "1:Matrices" "2:Images"; do
  for file in "${pair#*:}"/*.yaml; do
    { printf "\\x0${pair%%:*}"; cat "$file"; } > "$out/yaml/corpus/seed-$i"
    i=$((i + 1))
  done
done

summary="Benchmarks/results/fuzz-$(date -u +%Y%m%d-%H%M%S).txt"
{
  echo "fuzz run $(date -u +%FT%TZ), ${seconds}s per target, $(swiftc --version 2>&1 | head -1)"
  for name in protocol ktap yaml; do
    log="$out/$name/log.txt"
    set +e
    "$out/$name/fuzz-$name" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/$name/crashes/" \
      "$out/$name/corpus" > "$log" 2>&1
    status=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    crashes=$(find "$out/$name/crashes" -type f | wc -l)
    echo "$name: ${runs:-?} executions, coverage ${cov:-?} edges, $crashes crash input(s), libFuzzer exit $status"
    if [ "$crashes" -gt 0 ]; then grep -m3 -E 'Fatal error|ERROR:|Precondition' "$log" | sed 's/^/  /'; fi
  done
} | tee "$summary"
