#!/usr/bin/env bash
# hyper hello-world, arbor against tokio current_thread, under wrk
# (benches/http.rs says how). Installs wrk from the distribution's
# packages if it is missing (apt-get; as root, or through sudo).
#
#   bash benches/http.sh                   # 11 rounds of 10 s
#   ROUNDS=2 SECS=2 bash benches/http.sh   # a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    echo "http.sh: installing wrk (apt-get install -y wrk)" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq wrk
fi
command -v taskset >/dev/null || { echo "http.sh: taskset (util-linux) is needed" >&2; exit 1; }
exec cargo bench -p arbor-benches --bench http
