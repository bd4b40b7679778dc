# Shared helpers for Lectern's scripts; sourced, not run. Every helper is idempotent: it
# checks before it installs or starts anything.

# Build outputs live outside the clone by default so fresh clones (CI) reuse the cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lectern/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
LECTERN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${LECTERN_DATA_DIR:-$LECTERN_ROOT/.data}"
PG_PORT="${LECTERN_PG_PORT:-54329}"
WASM_BINDGEN_DIR="${LECTERN_TOOLS_DIR:-$HOME/.cache/lectern/tools}"

step() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it by hand, or run as root)"; fi
}

APT_UPDATED=""
# ensure_packages PKG... — installs the Debian packages that are missing.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  step "Installing ${missing[*]} (apt-get)"
  local log
  log=$(mktemp)
  if [[ -z "$APT_UPDATED" ]]; then as_root apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; die "apt-get update failed"; }; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 \
    || { tail -30 "$log" >&2; die "could not install ${missing[*]}"; }
  rm -f "$log"
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup (https://rustup.rs), then re-run"
}

# The wasm target and the wasm-bindgen CLI of exactly the version Cargo.lock pins.
ensure_wasm_toolchain() {
  ensure_rust
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    step "Adding the wasm32-unknown-unknown target (rustup)"
    rustup target add wasm32-unknown-unknown >&2
  fi
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$LECTERN_ROOT/Cargo.lock")
  [[ -n "$want" ]] || die "cannot find wasm-bindgen's version in Cargo.lock"
  local bin="$WASM_BINDGEN_DIR/wasm-bindgen-$want/bin"
  if [[ ! -x "$bin/wasm-bindgen" ]]; then
    step "Installing wasm-bindgen-cli $want (once; about 2-3 minutes)"
    cargo install --quiet wasm-bindgen-cli --version "$want" --root "$WASM_BINDGEN_DIR/wasm-bindgen-$want" >&2
  fi
  export PATH="$bin:$PATH"
}

# diesel's CLI, for checking api/src/db/schema.rs against the migrations.
ensure_diesel_cli() {
  ensure_packages libpq-dev
  local want=2.3.14
  local root="$WASM_BINDGEN_DIR/diesel-$want"
  if [[ ! -x "$root/bin/diesel" ]]; then
    step "Installing diesel_cli $want (once; about 2 minutes)"
    cargo install --quiet diesel_cli --version "$want" --no-default-features --features postgres --root "$root" >&2
  fi
  export PATH="$root/bin:$PATH"
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
    ensure_packages postgresql postgresql-client
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$dir"
}

# Runs a PostgreSQL binary as the cluster's owner (initdb refuses to run as root).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_private_postgres — a cluster of Lectern's own under $DATA_DIR/postgres, listening on
# 127.0.0.1:$PG_PORT with trust authentication for local connections only. Prints its URL
# (database `postgres`).
start_private_postgres() {
  local bin pgdata="$DATA_DIR/postgres"
  bin=$(pg_bin)
  mkdir -p "$DATA_DIR"
  if [[ ! -s "$pgdata/PG_VERSION" ]]; then
    step "Creating a private PostgreSQL cluster in $pgdata"
    mkdir -p "$pgdata"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$pgdata"
    chmod 700 "$pgdata"
    as_pg "$bin/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! as_pg "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    step "Starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pgdata -c max_connections=200 -c fsync=off" start >/dev/null \
      || { tail -20 "$pgdata/server.log" >&2; die "PostgreSQL did not start (log above: $pgdata/server.log)"; }
  fi
  echo "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

# ensure_database URL NAME — creates database NAME on URL's server if missing.
ensure_database() {
  local url=$1 name=$2
  if ! psql "$url" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql "$url" -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
}

# sweep_test_databases URL — drops test databases left by test processes that have ended
# (their names carry the process id), so repeated runs on a shared server leave nothing.
sweep_test_databases() {
  local url=$1 name pid
  for name in $(psql "$url" -Atqc "SELECT datname FROM pg_database WHERE datname ~ '^lectern_(tpl|test)_[0-9]+'"); do
    pid=$(cut -d_ -f3 <<<"$name")
    if [[ ! -d /proc/$pid ]]; then
      psql "$url" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
  done
}

# use_test_database — exports LECTERN_TEST_DATABASE_URL: as given, else the server on
# 127.0.0.1:5432 when it answers (the project's machines and CI), else a private cluster.
use_test_database() {
  if [[ -z "${LECTERN_TEST_DATABASE_URL:-}" ]]; then
    if pg_isready -q -h 127.0.0.1 -p 5432 && psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc "SELECT 1" >/dev/null 2>&1; then
      LECTERN_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    else
      LECTERN_TEST_DATABASE_URL=$(start_private_postgres)
    fi
  fi
  export LECTERN_TEST_DATABASE_URL
}

# The port of the image registry the tests start (scripts mark it insecure for Podman).
export LECTERN_TEST_REGISTRY_PORT="${LECTERN_TEST_REGISTRY_PORT:-50505}"

# ensure_container_engine — Podman serving the Docker Engine API on a unix socket, exported
# as DOCKER_HOST. Uses DOCKER_HOST as given when it is another engine that answers. Podman's
# configuration for these machines (runc, cgroupfs, ulimits a container may set; the tests'
# registry) is written beside the socket, not in a checkout — the service outlives
# checkouts (CI's clones are deleted) — and passed through CONTAINERS_CONF and
# CONTAINERS_REGISTRIES_CONF; a service started with other settings is started again.

ensure_container_engine() {
  # An engine of the caller's own (DOCKER_HOST set, and not ours) is used as it is.
  if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != "unix://${LECTERN_ENGINE_DIR:-/run/lectern}/podman.sock" ]] \
    && curl -fsS --max-time 2 --unix-socket "${DOCKER_HOST#unix://}" http://d/_ping >/dev/null 2>&1; then
    return 0
  fi
  ensure_packages podman runc curl
  local dir="${LECTERN_ENGINE_DIR:-/run/lectern}"
  local sock="$dir/podman.sock"
  as_root mkdir -p "$dir" "$DATA_DIR"
  [[ -w "$dir" ]] || as_root chown "$(id -u):$(id -g)" "$dir"
  export CONTAINERS_CONF="$dir/containers.conf"
  cat >"$CONTAINERS_CONF.tmp" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
  mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
  # Images are made locally (no public registry can be reached); the only registry is the
  # one the tests start on 127.0.0.1:$LECTERN_TEST_REGISTRY_PORT, over plain HTTP.
  export CONTAINERS_REGISTRIES_CONF="$dir/registries.conf"
  cat >"$CONTAINERS_REGISTRIES_CONF.tmp" <<CONF
unqualified-search-registries = []
[[registry]]
location = "127.0.0.1:$LECTERN_TEST_REGISTRY_PORT"
insecure = true
CONF
  mv "$CONTAINERS_REGISTRIES_CONF.tmp" "$CONTAINERS_REGISTRIES_CONF"
  export DOCKER_HOST="unix://$sock"
  # A service started with other settings (an older checkout's) is started again.
  local settings
  settings="$(cat "$CONTAINERS_CONF" "$CONTAINERS_REGISTRIES_CONF" | sha256sum | cut -c1-16)"
  if [[ "$(cat "$dir/podman-service.settings" 2>/dev/null)" != "$settings" ]]; then
    pkill -f "podman system service --time=0 unix://$sock" 2>/dev/null || true
    sleep 0.5
  fi
  if ! curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
    step "Starting Podman's Docker-compatible API on $sock"
    rm -f "$sock"
    echo "$settings" >"$dir/podman-service.settings"
    CONTAINERS_CONF="$CONTAINERS_CONF" CONTAINERS_REGISTRIES_CONF="$CONTAINERS_REGISTRIES_CONF" \
      setsid nohup podman system service --time=0 "unix://$sock" \
      >"$dir/podman-service.log" 2>&1 < /dev/null &
    local i
    for i in $(seq 1 50); do
      curl -fsS --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && return 0
      sleep 0.2
    done
    tail -20 "$dir/podman-service.log" >&2
    die "Podman's API did not answer on $sock (log above)"
  fi
}
