#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script).
#
#   ./scripts/test-all.sh              every phase, in order
#   ./scripts/test-all.sh fmt clippy   only the phases named
#   ./scripts/test-all.sh --list       the phases
#
# Phases: setup (promtool, amtool, jsonnet, the Python venv), fmt, clippy, build,
# test (cargo test), parity (the moto parity test in tests/moto), bench (the
# smoke run of scripts/prometheus-cost.py: the exporter, the simulator and
# Debian's Prometheus with the shipped rules for about a minute), deploy (the
# container, Kubernetes and systemd checks in tests/deploy), fuzz (every
# cargo-fuzz target in fuzz/ for FUZZ_SECONDS each, under nightly).
# It stops at the first phase that fails and exits non-zero.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)

ALL_PHASES=(setup fmt clippy build test parity bench deploy fuzz)
VENV="$repo_root/.venv"
REQUIREMENTS=("$repo_root/tests/moto/requirements.txt" "$repo_root/tests/deploy/requirements.txt")
APT_PACKAGES=(prometheus prometheus-alertmanager jsonnet)

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build per run: incremental state would only take disk (gigabytes of it
# for a workspace that links the AWS SDK into every test binary).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export DEBIAN_FRONTEND=noninteractive

log() { printf '==> %s\n' "$*"; }

# Runs a command with its output kept in a file, shown only when it fails:
# installs are noisy and only interesting when they break.
quietly() {
    local output status
    output=$(mktemp)
    set +e
    "$@" >"$output" 2>&1
    status=$?
    set -e
    if [[ $status -ne 0 ]]; then
        cat "$output" >&2
        printf 'command failed (exit %d): %s\n' "$status" "$*" >&2
    fi
    rm -f "$output"
    return "$status"
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@"
    else
        printf 'need root to run: %s\n' "$*" >&2
        return 1
    fi
}

install_prometheus_tools() {
    if command -v promtool >/dev/null && command -v amtool >/dev/null && command -v jsonnet >/dev/null; then
        log "promtool, amtool and jsonnet already installed"
        return 0
    fi
    log "installing ${APT_PACKAGES[*]} (for promtool, amtool, the servers and the mixin's jsonnet)"
    quietly as_root apt-get update
    quietly as_root apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
    command -v promtool >/dev/null || { echo "promtool still missing after installing prometheus" >&2; return 1; }
    command -v amtool >/dev/null || { echo "amtool still missing after installing prometheus-alertmanager" >&2; return 1; }
    command -v jsonnet >/dev/null || { echo "jsonnet still missing after installing jsonnet" >&2; return 1; }
}

python_for_venv() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "no python3 found for the test venv" >&2
    return 1
}

# The venv is rebuilt only when a requirements file or the interpreter
# changed since the last install.
install_python_venv() {
    local python stamp wanted
    python=$(python_for_venv)
    stamp="$VENV/.requirements-stamp"
    wanted="$("$python" --version 2>&1) $(cat "${REQUIREMENTS[@]}" | sha256sum | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]] \
        && "$VENV/bin/python" -c 'import moto, boto3, pytest, yaml, kubernetes_validate, jsonschema' 2>/dev/null; then
        log "Python venv .venv already satisfies tests/moto and tests/deploy requirements"
        return 0
    fi
    log "installing the Python venv .venv from tests/moto and tests/deploy requirements"
    if [[ ! -x "$VENV/bin/python" ]]; then
        quietly "$python" -m venv "$VENV"
    fi
    quietly "$VENV/bin/python" -m pip install -q -r "${REQUIREMENTS[0]}" -r "${REQUIREMENTS[1]}"
    [[ -x "$VENV/bin/moto_server" ]] || { echo "moto_server missing from .venv after the install" >&2; return 1; }
    echo "$wanted" >"$stamp"
}

# The deploy phase renders with `kubectl kustomize` and checks the unit with
# systemd-analyze. Neither comes from a registry this script can install from
# (Debian has no kubectl package), so a missing one fails here, by name.
check_deploy_tools() {
    local tool missing=()
    for tool in kubectl systemd-analyze unshare setpriv; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        printf 'the deploy phase needs %s on PATH\n' "${missing[*]}" >&2
        return 1
    fi
}

phase_setup() {
    install_prometheus_tools
    install_python_venv
    check_deploy_tools
}

phase_fmt() {
    local color=never
    [[ -t 1 ]] && color=auto
    # rustfmt colours its diff even into a log file unless told not to.
    cargo fmt --all -- --check --color="$color"
}

phase_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }

phase_build() { cargo build --workspace --all-targets; }

phase_test() { cargo test --workspace; }

phase_parity() {
    local target_dir
    [[ -x "$VENV/bin/pytest" ]] || { echo "no .venv/bin/pytest: run the setup phase first" >&2; return 1; }
    # Honours CARGO_TARGET_DIR and any target-dir setting in .cargo/config.
    target_dir=$(cargo metadata --format-version 1 --no-deps \
        | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    SECRETS_ROTATION_BIN_DIR="$target_dir/debug" "$VENV/bin/pytest" -q -p no:cacheprovider tests/moto
}

# The Prometheus cost benchmark in its short, fixed-length form, on the debug
# binaries: it fails when a process dies, a figure cannot be read or a shipped
# rule fails to evaluate. The full run's command is in docs/performance.md.
phase_bench() {
    local target_dir
    [[ -x "$VENV/bin/python" ]] || { echo "no .venv/bin/python: run the setup phase first" >&2; return 1; }
    target_dir=$(cargo metadata --format-version 1 --no-deps \
        | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    SRE_BIN_DIR="$target_dir/debug" "$VENV/bin/python" scripts/prometheus-cost.py --smoke
}

phase_deploy() {
    local target_dir
    [[ -x "$VENV/bin/pytest" ]] || { echo "no .venv/bin/pytest: run the setup phase first" >&2; return 1; }
    target_dir=$(cargo metadata --format-version 1 --no-deps \
        | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    SECRETS_ROTATION_BIN_DIR="$target_dir/debug" "$VENV/bin/pytest" -q -p no:cacheprovider tests/deploy
}

# Each target runs from its committed seeds for this long; a crash or a hang
# (an input taking FUZZ_TIMEOUT seconds) fails the phase.
FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-10}"
# Unoptimised and without AddressSanitizer: cargo-fuzz's default build
# (optimised, ASan) compiles the AWS SDK slowly enough to make this phase the
# longest of the suite (figures in docs/testing.md). Panics, overflow checks
# and debug assertions still count; long runs by hand use the default build.
FUZZ_BUILD_FLAGS=(--dev --sanitizer none)

phase_fuzz() {
    local target scratch
    # libFuzzer's instrumentation needs nightly rustc. Missing, the phase
    # fails: a fuzz phase that skipped itself would read as a pass.
    if ! cargo +nightly --version >/dev/null 2>&1; then
        echo "the fuzz phase needs the nightly toolchain: rustup toolchain install nightly" >&2
        return 1
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        log "installing cargo-fuzz"
        quietly cargo install cargo-fuzz --locked
    fi
    cargo +nightly fuzz build "${FUZZ_BUILD_FLAGS[@]}"
    # New inputs go to a scratch directory, so the worktree keeps only the
    # committed seeds and every run starts from the same place.
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' RETURN
    # libFuzzer runs on one core: the targets run side by side, as many at
    # once as there are cores, each for FUZZ_SECONDS, each with its output
    # in a file printed when it ends.
    local -a targets batch
    local at_once failed=0 index pid
    read -r -a targets <<<"$(cargo +nightly fuzz list | tr '\n' ' ')"
    at_once=$(nproc 2>/dev/null || echo 1)
    for ((index = 0; index < ${#targets[@]}; index += at_once)); do
        batch=("${targets[@]:index:at_once}")
        local -a pids=()
        for target in "${batch[@]}"; do
            log "fuzz $target for ${FUZZ_SECONDS}s"
            mkdir -p "$scratch/$target"
            cargo +nightly fuzz run "${FUZZ_BUILD_FLAGS[@]}" "$target" "$scratch/$target" "$repo_root/fuzz/corpus/$target" -- \
                -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -print_final_stats=1 \
                >"$scratch/$target.log" 2>&1 &
            pids+=("$!")
        done
        for ((pid = 0; pid < ${#pids[@]}; pid++)); do
            target=${batch[pid]}
            if wait "${pids[pid]}"; then
                log "fuzz $target: ok"
            else
                log "fuzz $target: FAILED"
                failed=1
            fi
            grep -v -e '^#[0-9]' -e '^INFO:' -e '^###### ' -e '^".*" # Uses: ' "$scratch/$target.log" || true
        done
    done
    return "$failed"
}

main() {
    local phases=() phase start elapsed status suite_start
    local -a report=()

    if [[ $# -eq 0 ]]; then
        phases=("${ALL_PHASES[@]}")
    elif [[ $1 == --list ]]; then
        printf '%s\n' "${ALL_PHASES[@]}"
        return 0
    else
        for phase in "$@"; do
            if ! declare -F "phase_$phase" >/dev/null; then
                printf 'unknown phase %q; phases: %s\n' "$phase" "${ALL_PHASES[*]}" >&2
                return 2
            fi
        done
        phases=("$@")
    fi

    suite_start=$SECONDS
    for phase in "${phases[@]}"; do
        log "phase $phase"
        start=$SECONDS
        # A subshell outside any `if`, so `set -e` still stops the phase at
        # its first failing command.
        set +e
        (set -e; "phase_$phase")
        status=$?
        set -e
        elapsed=$((SECONDS - start))
        if [[ $status -ne 0 ]]; then
            report+=("$(printf '  %-8s %5ds  FAILED (exit %d)' "$phase" "$elapsed" "$status")")
            printf '\ntest-all phases:\n'
            printf '%s\n' "${report[@]}"
            printf 'test-all: FAILED in phase %s after %ds\n' "$phase" "$((SECONDS - suite_start))"
            return 1
        fi
        report+=("$(printf '  %-8s %5ds  ok' "$phase" "$elapsed")")
        log "phase $phase passed in ${elapsed}s"
    done

    printf '\ntest-all phases:\n'
    printf '%s\n' "${report[@]}"
    printf 'test-all: PASSED (%s) in %ds\n' "${phases[*]}" "$((SECONDS - suite_start))"
}

main "$@"
