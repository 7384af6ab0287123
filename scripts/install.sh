#!/usr/bin/env bash
# Idempotent installer behind `make install/run/test` and CI: installs only what is missing.
#
# Where tools live: FerretDB is built once per machine, with deploy/ferretdb/patches applied, into
#   ${CARDSTREAM_TOOLS:-$HOME/.cache/cardstream/tools}/ferretdb-<version>-<patches hash>/ferretdb
# (outside the clone, so fresh CI clones reuse it). No env file is written: the version
# (deploy/ferretdb/version) and the patches are the one source that this script and
# cardstream_devstack.servers.ferretdb_build_path both derive the path from (a unit test compares
# them: `install.sh ferretdb-path` prints it), and FERRETDB_BIN overrides it there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- apt packages: append here ----------------------------------------------------------
# nginx: Debian 12's `nginx` package is the binary (nginx-light is now a metapackage over it plus
# an echo module we do not use). devstack runs it unprivileged with its own prefix in .run/nginx/.
# chromium: Debian's browser for the Playwright tests in tests/browser (never `playwright install`).
# patch: applies deploy/ferretdb/patches before FerretDB is built.
APT_PACKAGES=(redis-server curl nginx chromium gettext-base patch)

FERRETDB_SOURCE=deploy/ferretdb
FERRETDB_VERSION=$(<"$FERRETDB_SOURCE/version")
TOOLS_DIR="${CARDSTREAM_TOOLS:-$HOME/.cache/cardstream/tools}"

VENV=.venv
# The JavaScript tools for web/ (ESLint, run by `make lint`), from package-lock.json.
NODE_MODULES=node_modules
# Every third-party Python package, pinned with hashes; `make lock` regenerates it.
LOCK=requirements.lock
# --- local Python packages: one line per directory with a pyproject.toml -----------------
# Installed editable without their dependencies, which the lock holds.
LOCAL_PACKAGES=(
  contracts
  libs/runtime
  libs/devstack
  libs/testing
  services/boards
  services/projector
  services/auth
)

WORK=""
STAGING=""
trap 'rm -rf "$WORK" "$STAGING"' EXIT

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

apt_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if apt_installed "$pkg"; then
      say "$pkg: present"
    else
      missing+=("$pkg")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  say "apt: installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The patches in name order (C locale, as Python's sorted() orders them). Their hash is part of
# the binary's folder, so a changed patch builds anew and a binary without it is never taken for
# one with it.
FERRETDB_PATCHES=()
list_ferretdb_patches() {
  local LC_ALL=C
  shopt -s nullglob
  FERRETDB_PATCHES=("$FERRETDB_SOURCE"/patches/*.patch)
  shopt -u nullglob
}
list_ferretdb_patches
FERRETDB_HASH=$(cat "${FERRETDB_PATCHES[@]}" </dev/null | sha256sum | cut -c1-12)
FERRETDB_BIN="$TOOLS_DIR/ferretdb-$FERRETDB_VERSION-$FERRETDB_HASH/ferretdb"

ferretdb_ok() {
  [[ -x $FERRETDB_BIN && $("$FERRETDB_BIN" --version 2>/dev/null) == *"version: $FERRETDB_VERSION"* ]]
}

find_go() {
  PATH="$PATH:/usr/local/go/bin" command -v go ||
    die "Go is required to build FerretDB $FERRETDB_VERSION but 'go' is not on PATH nor in /usr/local/go/bin"
}

# The module zip lacks build/version/version.txt, without which the binary panics at start
# ("Invalid build/version/version.txt"), so build from a writable copy that has it, with the
# patches applied (deploy/ferretdb/README.md says what each does).
build_ferretdb() {
  local go work log dir patch
  go=$(find_go)
  WORK=$(mktemp -d)
  work=$WORK
  log="$work/build.log"
  say "ferretdb: building $FERRETDB_VERSION with ${#FERRETDB_PATCHES[@]} patch(es) (about a minute) ..."
  if ! (cd "$work" && "$go" mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION") \
    >"$work/download.json" 2>"$log"; then
    cat "$work/download.json" "$log" >&2
    die "ferretdb: go mod download failed"
  fi
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$work/download.json")
  [[ -d $dir ]] || { cat "$work/download.json" >&2; die "ferretdb: no module Dir in go output"; }
  cp -R "$dir" "$work/src"
  chmod -R u+w "$work/src"
  for patch in "${FERRETDB_PATCHES[@]}"; do
    patch -p1 --forward --batch --quiet -d "$work/src" <"$patch" >>"$log" 2>&1 ||
      { cat "$log" >&2; die "ferretdb: $patch does not apply to $FERRETDB_VERSION"; }
  done
  echo "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
  # Built under a name no other run uses, in the target's own folder, then renamed over the
  # target (atomic on one file system): no run sees half a binary or loses its file to another.
  STAGING=$(mktemp -d "$(dirname "$FERRETDB_BIN")/.build.XXXXXX")
  if ! (cd "$work/src" && "$go" build -trimpath -o "$STAGING/ferretdb" ./cmd/ferretdb) \
    >>"$log" 2>&1; then
    cat "$log" >&2
    die "ferretdb: go build failed"
  fi
  mv -f "$STAGING/ferretdb" "$FERRETDB_BIN"
  ferretdb_ok || die "ferretdb: built $FERRETDB_BIN but '--version' does not report $FERRETDB_VERSION"
}

install_ferretdb() {
  local lock
  if ferretdb_ok; then
    say "ferretdb: present ($FERRETDB_BIN)"
    return
  fi
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  # Clones installing at once share the tools folder: one builds, the others wait for it and
  # take its binary rather than build the same one again on the same cores.
  exec {lock}>"$(dirname "$FERRETDB_BIN")/.lock"
  flock "$lock"
  if ferretdb_ok; then
    say "ferretdb: present ($FERRETDB_BIN, built by another run)"
  else
    build_ferretdb
    say "ferretdb: built $FERRETDB_BIN"
  fi
  exec {lock}>&-
}

pick_python() {
  local py
  for py in python3.11 python3; do
    if command -v "$py" >/dev/null &&
      "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$py"
      return
    fi
  done
  die "Python 3.11+ is required (looked for python3.11 and python3 on PATH)"
}

# What the venv was installed from: the lock, the local packages and their pyproject.toml files.
venv_fingerprint() {
  local pkg
  {
    "$VENV/bin/python" --version
    printf '%s\n' "${LOCAL_PACKAGES[@]}"
    cat "$LOCK"
    for pkg in "${LOCAL_PACKAGES[@]}"; do
      cat "$pkg/pyproject.toml"
    done
  } | sha256sum | cut -d' ' -f1
}

create_venv() {
  "$VENV/bin/python" -c '' 2>/dev/null && return
  local py
  py=$(pick_python)
  say "venv: creating $VENV with $py"
  rm -rf "$VENV"
  "$py" -m venv "$VENV" || die "could not create $VENV with $py (on Debian: apt-get install python3-venv)"
}

install_venv() {
  [[ -f $LOCK ]] || die "no $LOCK: it is kept in git (git checkout -- $LOCK)"
  create_venv
  local stamp="$VENV/.installed" fingerprint pkg editable=()
  fingerprint=$(venv_fingerprint)
  if [[ -f $stamp && $(<"$stamp") == "$fingerprint" ]]; then
    say "venv: up to date"
    return
  fi
  local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input)
  say "venv: pip install --require-hashes -r $LOCK ..."
  "${pip[@]}" --require-hashes -r "$LOCK"
  for pkg in "${LOCAL_PACKAGES[@]}"; do
    editable+=(-e "$pkg")
  done
  # Without build isolation: setuptools comes from the lock rather than unpinned from the index.
  say "venv: pip install --no-deps ${editable[*]} ..."
  "${pip[@]}" --no-deps --no-build-isolation "${editable[@]}"
  printf '%s' "$fingerprint" >"$stamp"
  say "venv: installed"
}

# ESLint 10 needs one of these Node.js lines; Debian 12's own nodejs (18) is too old for it.
node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
      process.exit((a === 20 && b >= 19) || (a === 22 && b >= 13) || a >= 24 ? 0 : 1)'
}

# The stamp holds the lock file's hash: `npm ci` runs again only when the lock changed.
install_node_packages() {
  local stamp="$NODE_MODULES/.installed" want
  node_ok || die "Node.js ^20.19, ^22.13 or >=24 with npm is required for ESLint (found: $(node --version 2>/dev/null || echo none))"
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    say "node packages: up to date"
    return
  fi
  say "node packages: npm ci ..."
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s' "$want" >"$stamp"
  say "node packages: installed"
}

distribution_name() {
  sed -n 's/^name = "\(.*\)"$/\1/p' "$1/pyproject.toml"
}

# `make lock`: the local packages' declared dependencies and requirements-dev.in, resolved for
# Python 3.11+ on any platform. Versions already in the lock are kept where they still fit;
# arguments go to `uv pip compile` (`make lock LOCK_ARGS=--upgrade-package=aiohttp`).
lock_venv() {
  install_venv # uv comes from the lock
  local input=("-r requirements-dev.in") args=() pkg
  for pkg in "${LOCAL_PACKAGES[@]}"; do
    input+=("-e ./$pkg")
    args+=(--no-emit-package "$(distribution_name "$pkg")")
  done
  printf '%s\n' "${input[@]}" |
    "$VENV/bin/uv" pip compile - --quiet --universal --python-version 3.11 --generate-hashes \
      --custom-compile-command "make lock" "${args[@]}" "$@" --output-file "$LOCK"
  say "lock: $LOCK written"
  install_venv
}

if [[ ${1:-} == ferretdb-path ]]; then
  printf '%s\n' "$FERRETDB_BIN"
  exit
fi

if [[ ${1:-} == lock ]]; then
  lock_venv "${@:2}"
  exit
fi

install_apt_packages
install_ferretdb
install_venv
install_node_packages
