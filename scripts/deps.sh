#!/usr/bin/env bash
# deps.sh: install the Debian packages ringchat needs to build, test and run.
# Idempotent: it checks pkg-config modules and commands first and runs
# apt-get (update, then install) only when something is missing.
# Never installs anything that is not a Debian package.
set -euo pipefail

# pkg-config module -> Debian package
declare -A PC_PKGS=(
  [liburing]=liburing-dev
  [ck]=libck-dev
  [hiredis]=libhiredis-dev
  [criterion]=libcriterion-dev
  [libsodium]=libsodium-dev
)
# command -> Debian package
declare -A CMD_PKGS=(
  [cc]=build-essential
  [make]=make
  [cmake]=cmake
  [pkg-config]=pkg-config
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [clang]=clang
  [gnuplot]=gnuplot-nox
)

missing=()
for cmd in "${!CMD_PKGS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${CMD_PKGS[$cmd]}")
done
if command -v pkg-config >/dev/null 2>&1; then
  for mod in "${!PC_PKGS[@]}"; do
    pkg-config --exists "$mod" || missing+=("${PC_PKGS[$mod]}")
  done
else
  missing+=("${PC_PKGS[@]}")
fi
# libFuzzer's runtime comes with clang's compiler-rt; it has no pkg-config file.
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  missing+=(libclang-rt-dev)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: everything is installed"
  exit 0
fi

# Sort and de-duplicate for a readable message.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "deps: installing ${missing[*]}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "deps: missing packages (${missing[*]}) and not root, and sudo is absent." >&2
    echo "deps: as root run: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
