# shellcheck shell=bash disable=SC2153
# Library for scripts/stack. Sourced; expects SCRIPT_DIR, REPO_DIR, STACK_D to be set.

# ---------------------------------------------------------------------------------------------
# Pinned versions (see docs/stack.md for why)
# ---------------------------------------------------------------------------------------------
KAFKA_VERSION="4.3.1"
LOG4J_VERSION="2.25.4" # = the log4j-core version kafka_2.13:${KAFKA_VERSION} depends on
BQ_EMULATOR_MODULE="github.com/goccy/bigquery-emulator"
BQ_EMULATOR_VERSION="${KPIPE_STACK_BQ_VERSION:-v0.8.1}" # the variable is for tests of a failing build

STACK_DIR="$REPO_DIR/.stack"
CACHE_DIR="${KPIPE_CACHE_DIR:-$HOME/.cache/kpipe}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
BQ_BIN="$CACHE_DIR/bin/bigquery-emulator-$BQ_EMULATOR_VERSION"
PORTS_FILE="$STACK_DIR/ports.env"

BQ_PROJECT="local"
BQ_DATASET="analytics"
SCRAM_USER="kpipe"
SCRAM_PASSWORD="kpipe-secret"
TLS_STOREPASS="kpipe-stack"

KAFKA_READY_TIMEOUT="${KPIPE_STACK_TIMEOUT:-90}"
SERVICE_READY_TIMEOUT="${KPIPE_STACK_TIMEOUT:-60}"

# ---------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------
log() { printf 'stack: %s\n' "$*" >&2; }
err() { printf 'stack: error: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

usage() {
  cat <<'EOF'
usage: scripts/stack COMMAND [OPTIONS]

  up [--brokers 1|3] [--secure]  install what is missing (pinned versions), start Kafka (KRaft),
     [--monitoring]              PostgreSQL, Redis and the BigQuery emulator, side by side; wait
     [--bq-background]           until each answers. Idempotent: running services are left alone.
                                 Prints each one's time (stack: kafka ready in 41s).
                                 --bq-background: return once the others are ready and leave the
                                 emulator (minutes to build on first use) to a background job;
                                 `wait bq` waits for it and fails if its build or start failed
                                 --monitoring: also Prometheus (Debian's package), scraping the
                                 workers (9464-9466) and `kpipe lag --serve` (9467) on localhost
                                 and the targets in .stack/prometheus/targets/*.json
  down [--wipe]                  stop everything; --wipe also deletes .stack/ data
  reset                          down --wipe
  status                         service / state / address / pid; exit 0 only if all run
  wait bq                        wait for the emulator's job of `up --bq-background`; exit 1 if it failed
  env [--secure]                 print `export KPIPE_...=...` lines (eval "$(scripts/stack env)")
  tool NAME [ARGS...]            run a Kafka CLI tool from the pinned release, e.g.
                                 scripts/stack tool kafka-topics --bootstrap-server localhost:9092 --list
                                 NAME: kafka-topics kafka-configs kafka-consumer-groups
                                 kafka-producer-perf-test kafka-consumer-perf-test
                                 kafka-console-producer kafka-console-consumer kafka-storage
                                 kafka-get-offsets kafka-metadata-quorum connect-standalone

Ports (persisted in .stack/ports.env at `up`): KPIPE_STACK_KAFKA_PORT (9092),
KPIPE_STACK_PG_PORT (5432), KPIPE_STACK_REDIS_PORT (6379), KPIPE_STACK_BQ_PORT (9050),
KPIPE_STACK_PROM_PORT (9090).
Cache of downloaded/built artefacts: ${KPIPE_CACHE_DIR:-$HOME/.cache/kpipe}.
EOF
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# apt-get install; the first call of an `up` runs `apt-get update` first. The jobs of `up` run
# in parallel (parallel.sh) and two apt-get at once fail on dpkg's lock: one at a time, through
# a lock of ours (other clones' `up` included) and dpkg's own lock timeout (any other apt user).
APT_LOCK="${TMPDIR:-/tmp}/kpipe-stack-apt.lock"
APT_STAMP="${APT_STAMP:-$(mktemp -u "${TMPDIR:-/tmp}/kpipe-stack-apt-updated.XXXXXX")}"
export APT_STAMP # shared by the jobs of one `up`; removed at its end
apt_install() {
  is_root || die "missing packages ($*); install them with: sudo apt-get install -y $*"
  command -v apt-get >/dev/null || die "missing packages ($*) and no apt-get on this machine"
  local t0=$SECONDS
  (
    if command -v flock >/dev/null; then flock -w 1800 8 || die "could not lock $APT_LOCK"; fi
    if [[ ! -e $APT_STAMP ]]; then
      log "apt-get update"
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
      : >"$APT_STAMP"
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >&2 \
      || die "apt-get install $* failed"
  ) 8>>"$APT_LOCK"
  log "installed $* in $(fmt_secs $((SECONDS - t0)))"
}

# ---------------------------------------------------------------------------------------------
# Settings (ports, broker count, secure), persisted in .stack/ports.env
# ---------------------------------------------------------------------------------------------
# read_setting KEY: value of KEY in .stack/ports.env (empty if absent)
read_setting() {
  [[ -f "$PORTS_FILE" ]] || return 0
  sed -n "s/^$1=\([0-9A-Za-z._-]*\)\$/\1/p" "$PORTS_FILE" | tail -n1
}

# Loads persisted settings; the KPIPE_STACK_* environment overrides them only for `up`
# (pass "up" as $1), so that env/status/down always agree with the last `up`.
load_settings() {
  local mode="${1:-read}"
  local p_kafka="" p_pg="" p_redis="" p_bq="" p_brokers="" p_secure="" p_prom=""
  p_prom=$(read_setting PROM_PORT)
  MONITORING=$(read_setting MONITORING)
  MONITORING="${MONITORING:-0}"
  p_kafka=$(read_setting KAFKA_PORT)
  p_pg=$(read_setting PG_PORT)
  p_redis=$(read_setting REDIS_PORT)
  p_bq=$(read_setting BQ_PORT)
  p_brokers=$(read_setting BROKERS)
  p_secure=$(read_setting SECURE)
  if [[ $mode == up ]]; then
    KAFKA_PORT="${KPIPE_STACK_KAFKA_PORT:-${p_kafka:-9092}}"
    PG_PORT="${KPIPE_STACK_PG_PORT:-${p_pg:-5432}}"
    REDIS_PORT="${KPIPE_STACK_REDIS_PORT:-${p_redis:-6379}}"
    BQ_PORT="${KPIPE_STACK_BQ_PORT:-${p_bq:-9050}}"
    PROM_PORT="${KPIPE_STACK_PROM_PORT:-${p_prom:-9090}}"
  else
    KAFKA_PORT="${p_kafka:-${KPIPE_STACK_KAFKA_PORT:-9092}}"
    PG_PORT="${p_pg:-${KPIPE_STACK_PG_PORT:-5432}}"
    REDIS_PORT="${p_redis:-${KPIPE_STACK_REDIS_PORT:-6379}}"
    BQ_PORT="${p_bq:-${KPIPE_STACK_BQ_PORT:-9050}}"
    PROM_PORT="${p_prom:-${KPIPE_STACK_PROM_PORT:-9090}}"
  fi
  BROKERS="${p_brokers:-1}"
  SECURE="${p_secure:-0}"
  local v
  for v in KAFKA_PORT PG_PORT REDIS_PORT BQ_PORT PROM_PORT; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1 || ${!v} > 65535)); then die "invalid port $v=${!v}"; fi
  done
  BQ_GRPC_PORT=$((BQ_PORT + 10))
}

save_settings() {
  mkdir -p "$STACK_DIR"
  cat >"$PORTS_FILE.tmp" <<EOF
# written by scripts/stack up; read by env/status/down
KAFKA_PORT=$KAFKA_PORT
PG_PORT=$PG_PORT
REDIS_PORT=$REDIS_PORT
BQ_PORT=$BQ_PORT
BROKERS=$BROKERS
SECURE=$SECURE
PROM_PORT=$PROM_PORT
MONITORING=$MONITORING
EOF
  mv "$PORTS_FILE.tmp" "$PORTS_FILE"
}

# Node n (1-based) of the Kafka cluster: client port, controller port, SASL_SSL port.
kafka_client_port() { echo $((KAFKA_PORT + 100 * ($1 - 1))); }
kafka_controller_port() { echo $((KAFKA_PORT + 1 + 100 * ($1 - 1))); }
kafka_secure_port() { echo $((KAFKA_PORT + 3 + 100 * ($1 - 1))); }
# Directory of node n: .stack/kafka for the single broker, .stack/kafka-N for the 3-node cluster
# (the two layouts keep separate data and cluster ids, so switching loses nothing).
kafka_node_dir() {
  if [[ $2 == 1 ]]; then echo "$STACK_DIR/kafka"; else echo "$STACK_DIR/kafka-$1"; fi
}
kafka_cluster_id_file() {
  if [[ $1 == 1 ]]; then echo "$STACK_DIR/kafka-cluster-id"; else echo "$STACK_DIR/kafka3-cluster-id"; fi
}

brokers_list() { # $1 = brokers, $2 = secure(0/1)
  local n out=""
  for ((n = 1; n <= $1; n++)); do
    if [[ $2 == 1 ]]; then out+="${out:+,}localhost:$(kafka_secure_port "$n")"; else out+="${out:+,}localhost:$(kafka_client_port "$n")"; fi
  done
  echo "$out"
}

# ---------------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------------
# pid_of PIDFILE PATTERN -> prints pid if alive and its command line contains PATTERN
pid_of() {
  local f="$1" pat="$2" pid
  [[ -f "$f" ]] || return 1
  pid=$(head -n1 "$f" 2>/dev/null | tr -dc '0-9')
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pat" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Who listens on TCP port $1 (best effort, for error messages).
port_owner() {
  if command -v ss >/dev/null; then
    ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*",pid=[0-9]*\).*/\1/p' | head -n1
  fi
}

ensure_port_free() { # $1 port, $2 service, $3 env var
  if port_open "$1"; then
    die "port $1 for $2 is already in use by another process ($(port_owner "$1")); stop it or pick another port, e.g. $3=$(($1 + 1000)) scripts/stack up"
  fi
}

# wait_until TIMEOUT LOGFILE PIDCHECK_FN DESCRIPTION -- COMMAND...
wait_until() {
  local timeout="$1" logf="$2" alive="$3" what="$4"
  shift 5
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -n "$alive" ]] && ! "$alive"; then
      err "$what exited during start-up; last lines of $logf:"
      tail -n 30 "$logf" >&2 2>/dev/null || true
      local first
      first=$(grep -m1 -E '^[A-Za-z0-9_.$]+(Exception|Error): ' "$logf" 2>/dev/null ||
        grep -m1 -E 'ERROR|FATAL|panic' "$logf" 2>/dev/null) || true
      first=${first:0:300}
      die "$what did not start${first:+: $first} (full log: $logf)"
    fi
    sleep 0.5
  done
  err "$what did not answer within ${timeout}s; last lines of $logf:"
  tail -n 30 "$logf" >&2 2>/dev/null || true
  die "$what is not ready (full log: $logf)"
}

# stop_pid PID NAME TIMEOUT: SIGTERM, wait, then SIGKILL
stop_pid() {
  local pid="$1" name="$2" timeout="${3:-30}" deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop within ${timeout}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
}

# Start a detached background process: start_bg PIDFILE LOGFILE CMD...
start_bg() {
  local pidf="$1" logf="$2"
  shift 2
  if [[ -f "$logf" ]]; then mv -f "$logf" "$logf.1"; fi
  # setsid: own session, survives this script; no stdin (CI has none).
  setsid nohup "$@" </dev/null >"$logf" 2>&1 &
  echo $! >"$pidf"
}

# with_cache_lock NAME FN: serialise installs of one artefact into the shared cache (concurrent
# `up` from several clones); one lock per artefact, so that Kafka's fetch and the emulator's
# build of one `up` run side by side.
with_cache_lock() {
  local name="$1"
  shift
  mkdir -p "$CACHE_DIR"
  if command -v flock >/dev/null; then
    (
      flock -w 1800 9 || die "could not lock $CACHE_DIR/.lock-$name"
      "$@"
    ) 9>"$CACHE_DIR/.lock-$name"
  else
    "$@"
  fi
}

# ---------------------------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------------------------
ensure_java() {
  if ! command -v java >/dev/null; then apt_install openjdk-17-jre-headless; fi
}

install_kafka_locked() {
  [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS (once)"
  local tmp="$KAFKA_HOME.tmp.$$" t0=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$STACK_D/kafka-pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >&2; then
    rm -rf "$tmp"
    die "Maven could not fetch Kafka $KAFKA_VERSION (see output above)"
  fi
  [[ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
  log "fetched the Kafka jars in $(fmt_secs $((SECONDS - t0)))"
}

ensure_kafka() {
  ensure_java
  [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || with_cache_lock kafka install_kafka_locked
}

install_bq_locked() {
  [[ -x "$BQ_BIN" ]] && return 0
  # A Go toolchain installed from go.dev lives in /usr/local/go, which a non-login shell may not have on PATH.
  command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"; }
  command -v go >/dev/null || die "Go is needed to build the BigQuery emulator ($BQ_EMULATOR_MODULE@$BQ_EMULATOR_VERSION) and is not installed"
  log "building the BigQuery emulator $BQ_EMULATOR_VERSION with Go into $CACHE_DIR/bin (once; a cold build takes several minutes)"
  # Not `go install pkg@version`: that also asks the module proxy for the version list (to look
  # for deprecations), which some proxies refuse. Download the pinned module and build it.
  local dir src tmp="$CACHE_DIR/bin/.bq-build.$$" t0=$SECONDS
  local json reason
  json=$(cd / && GOFLAGS=-mod=mod go mod download -json "$BQ_EMULATOR_MODULE@$BQ_EMULATOR_VERSION") || true
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  reason=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)"$/\1/p' <<<"$json")
  [[ -n "$dir" && -d "$dir" ]] || die "could not download $BQ_EMULATOR_MODULE@$BQ_EMULATOR_VERSION with go mod download${reason:+: $reason}"
  log "downloaded the emulator's source in $(fmt_secs $((SECONDS - t0)))"
  src=$(mktemp -d)
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  mkdir -p "$CACHE_DIR/bin"
  # CGO_ENABLED=0: only the standard library would use cgo (net, os/user); a static binary needs no C compiler.
  # nice: the build runs beside Kafka's start and the demo's events, which should not wait for it.
  if ! (cd "$src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false nice -n 10 go build -trimpath \
    -ldflags "-s -w -X main.version=$BQ_EMULATOR_VERSION" -o "$tmp" ./cmd/bigquery-emulator >&2); then
    rm -rf "$src" "$tmp"
    die "building the BigQuery emulator failed (see output above)"
  fi
  rm -rf "$src"
  mv -f "$tmp" "$BQ_BIN"
  log "built the BigQuery emulator in $(fmt_secs $((SECONDS - t0)))"
  ln -sfn "$(basename "$BQ_BIN")" "$CACHE_DIR/bin/bigquery-emulator"
}

ensure_bq() {
  [[ -x "$BQ_BIN" ]] || with_cache_lock bq install_bq_locked
  [[ "$(readlink "$CACHE_DIR/bin/bigquery-emulator" 2>/dev/null)" == "$(basename "$BQ_BIN")" ]] ||
    ln -sfn "$(basename "$BQ_BIN")" "$CACHE_DIR/bin/bigquery-emulator"
}

PG_BIN=""
find_pg_bin() {
  local d
  PG_BIN=""
  # shellcheck disable=SC2012
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [[ -x "$d/postgres" ]] && PG_BIN="$d"
  done
  [[ -n "$PG_BIN" ]]
}

ensure_postgres() {
  if ! find_pg_bin; then
    apt_install postgresql
    find_pg_bin || die "PostgreSQL server binaries not found under /usr/lib/postgresql after install"
  fi
}

ensure_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then apt_install redis-server; fi
}

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------
JAVA_GC_OPTS=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true)

kafka_java() { # tool-style invocation: quiet logging, small heap
  java -Xmx256M "${JAVA_GC_OPTS[@]}" -Dlog4j2.configurationFile="$STACK_D/tools-log4j2.yaml" \
    -cp "$KAFKA_LIBS/*" "$@"
}

kafka_pid() { pid_of "$(kafka_node_dir "$1" "$2")/kafka.pid" "kafka.Kafka"; }

# Which layout is running now: prints 1 or 3 (or nothing)
kafka_running_layout() {
  if kafka_pid 1 1 >/dev/null; then echo 1; return; fi
  local n
  for n in 1 2 3; do
    if kafka_pid "$n" 3 >/dev/null; then echo 3; return; fi
  done
}

kafka_secure_running() { # 1 if the running layout has a SASL_SSL listener
  local layout="$1"
  grep -q '^sasl.enabled.mechanisms' "$(kafka_node_dir 1 "$layout")/server.properties" 2>/dev/null
}

make_tls() {
  local tls="$STACK_DIR/tls"
  [[ -f "$tls/broker.p12" && -f "$tls/ca.crt" ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  log "creating a CA and a broker keystore in $tls"
  rm -rf "$tls"
  mkdir -p "$tls"
  (
    cd "$tls" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kpipe-stack-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.crt 2>/dev/null
    # PKCS12 keystore (key + chain) with keytool: import the openssl-made pair.
    openssl pkcs12 -export -name broker -inkey broker.key -in broker.crt -certfile ca.crt \
      -passout "pass:$TLS_STOREPASS" -out broker-openssl.p12
    keytool -importkeystore -noprompt -srckeystore broker-openssl.p12 -srcstoretype PKCS12 \
      -srcstorepass "$TLS_STOREPASS" -destkeystore broker.p12 -deststoretype PKCS12 \
      -deststorepass "$TLS_STOREPASS" >/dev/null 2>&1
    keytool -importcert -noprompt -alias ca -file ca.crt -keystore truststore.p12 \
      -storetype PKCS12 -storepass "$TLS_STOREPASS" >/dev/null 2>&1
    rm -f broker-openssl.p12 broker.csr broker.ext ca.srl
    chmod 600 ca.key broker.key
  )
}

# write_kafka_config NODE LAYOUT SECURE
write_kafka_config() {
  local n="$1" layout="$2" secure="$3" dir voters="" listeners advertised pmap rf min_isr i
  dir=$(kafka_node_dir "$n" "$layout")
  for ((i = 1; i <= layout; i++)); do
    voters+="${voters:+,}$i@localhost:$(kafka_controller_port "$i")"
  done
  # Bind to loopback only; advertise "localhost".
  listeners="PLAINTEXT://127.0.0.1:$(kafka_client_port "$n"),CONTROLLER://127.0.0.1:$(kafka_controller_port "$n")"
  advertised="PLAINTEXT://localhost:$(kafka_client_port "$n")"
  pmap="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  [[ $secure == 1 ]] && secure_listeners "$n" # secure.sh
  if [[ $layout == 1 ]]; then rf=1 min_isr=1; else rf=3 min_isr=2; fi
  mkdir -p "$dir/data"
  sed -e "s|@NODE_ID@|$n|" -e "s|@VOTERS@|$voters|" -e "s|@LISTENERS@|$listeners|" \
    -e "s|@ADVERTISED@|$advertised|" -e "s|@PROTOCOL_MAP@|$pmap|" -e "s|@LOG_DIRS@|$dir/data|" \
    -e "s|@RF@|$rf|g" -e "s|@MIN_ISR@|$min_isr|g" \
    "$STACK_D/kafka-server.properties.in" >"$dir/server.properties"
  if [[ $secure == 1 ]]; then secure_kafka_properties >>"$dir/server.properties"; fi
}

kafka_format() { # NODE LAYOUT
  local n="$1" layout="$2" dir idf cid
  dir=$(kafka_node_dir "$n" "$layout")
  [[ -f "$dir/data/meta.properties" ]] && return 0
  idf=$(kafka_cluster_id_file "$layout")
  if [[ ! -s "$idf" ]]; then
    kafka_java kafka.tools.StorageTool random-uuid >"$idf.tmp" || die "kafka-storage random-uuid failed"
    mv "$idf.tmp" "$idf"
  fi
  cid=$(tr -d '[:space:]' <"$idf")
  log "formatting Kafka node $n (cluster id $cid)"
  # The SCRAM user is always added at format time, so that --secure can be switched on later.
  kafka_java kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "formatting Kafka node $n failed (log: $dir/format.log)"; }
}

kafka_start_node() { # NODE LAYOUT
  local n="$1" layout="$2" dir
  dir=$(kafka_node_dir "$n" "$layout")
  ensure_port_free "$(kafka_client_port "$n")" "Kafka node $n" KPIPE_STACK_KAFKA_PORT
  ensure_port_free "$(kafka_controller_port "$n")" "Kafka controller $n" KPIPE_STACK_KAFKA_PORT
  [[ $SECURE == 1 ]] && ensure_port_free "$(kafka_secure_port "$n")" "Kafka SASL_SSL $n" KPIPE_STACK_KAFKA_PORT
  start_bg "$dir/kafka.pid" "$dir/kafka.log" \
    java -Xms512m -Xmx512m -server "${JAVA_GC_OPTS[@]}" \
    -Dlog4j2.configurationFile="$STACK_D/log4j2.yaml" -Dkafka.logs.dir="$dir" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
}

kafka_log_started() { grep -q "Kafka Server started" "$1" 2>/dev/null; }

kafka_up() {
  local layout="$BROKERS" running n dir
  running=$(kafka_running_layout)
  if [[ -n "$running" && "$running" != "$layout" ]]; then
    die "a $running-broker Kafka is running; run 'scripts/stack down' first, then 'scripts/stack up --brokers $layout' (data of both layouts is kept separately)"
  fi
  if [[ -n "$running" ]]; then
    local has_secure=0
    kafka_secure_running "$running" && has_secure=1
    if [[ $SECURE == 1 && $has_secure == 0 ]]; then
      die "Kafka is running without the SASL_SSL listener; run 'scripts/stack down' first, then 'scripts/stack up --secure'"
    fi
    SECURE=$has_secure
  fi
  ensure_kafka
  [[ $SECURE == 1 ]] && secure_prepare
  local to_wait=()
  for ((n = 1; n <= layout; n++)); do
    dir=$(kafka_node_dir "$n" "$layout")
    if kafka_pid "$n" "$layout" >/dev/null; then continue; fi
    mkdir -p "$dir"
    write_kafka_config "$n" "$layout" "$SECURE"
    kafka_format "$n" "$layout"
    log "starting Kafka node $n (localhost:$(kafka_client_port "$n"))"
    kafka_start_node "$n" "$layout"
    to_wait+=("$n")
  done
  for n in "${to_wait[@]}"; do
    dir=$(kafka_node_dir "$n" "$layout")
    KAFKA_WAIT_NODE=$n KAFKA_WAIT_LAYOUT=$layout \
      wait_until "$KAFKA_READY_TIMEOUT" "$dir/kafka.log" kafka_wait_alive "Kafka node $n" -- \
      kafka_log_started "$dir/kafka.log"
  done
  # A real client round trip: list topics through the admin client (metadata from the cluster).
  local bs
  bs=$(brokers_list "$layout" 0)
  wait_until 60 "$(kafka_node_dir 1 "$layout")/kafka.log" "" "Kafka ($bs)" -- \
    timeout 30 java -Xmx128M -Dlog4j2.configurationFile="$STACK_D/tools-log4j2.yaml" -cp "$KAFKA_LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --list
  if [[ $SECURE == 1 ]]; then secure_setup; fi
}
kafka_wait_alive() { kafka_pid "$KAFKA_WAIT_NODE" "$KAFKA_WAIT_LAYOUT" >/dev/null; }

kafka_down() {
  local layout n pid pids=()
  for layout in 1 3; do
    for ((n = 1; n <= layout; n++)); do
      if pid=$(kafka_pid "$n" "$layout"); then
        log "stopping Kafka node $n (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
      fi
    done
  done
  for pid in "${pids[@]}"; do stop_pid "$pid" "Kafka" 60; done
  for layout in 1 3; do
    for ((n = 1; n <= layout; n++)); do rm -f "$(kafka_node_dir "$n" "$layout")/kafka.pid"; done
  done
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
# Postgres refuses to run as root: as root we run it as the `postgres` OS user.
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster lives in .stack/postgres; if the postgres OS user cannot reach that directory
# (repo under a private home such as /root), it lives under /var/tmp and .stack/postgres is a
# symlink to it.
pg_paths() {
  PG_LINK="$STACK_DIR/postgres"
  if [[ -L "$PG_LINK" ]]; then
    PG_BASE=$(readlink "$PG_LINK")
  else
    PG_BASE="$PG_LINK"
  fi
  PG_DATA="$PG_BASE/data"
  PG_SOCK="$PG_BASE/run"
  PG_LOG="$PG_BASE/postgres.log"
}

pg_prepare_dir() {
  pg_paths
  [[ -d "$PG_DATA" ]] && return 0
  mkdir -p "$STACK_DIR"
  if is_root && ! runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
    local alt
    alt="/var/tmp/kpipe-stack-$(printf '%s' "$REPO_DIR" | md5sum | cut -c1-12)/postgres"
    log "the postgres OS user cannot reach $STACK_DIR; keeping the cluster in $alt (symlinked from .stack/postgres)"
    rm -rf "$PG_LINK"
    mkdir -p "$alt"
    ln -s "$alt" "$PG_LINK"
    pg_paths
  fi
  mkdir -p "$PG_BASE"
  is_root && chown postgres: "$PG_BASE"
  chmod 700 "$PG_BASE"
}

pg_pid() {
  pg_paths
  [[ -n "$PG_BIN" ]] || find_pg_bin || return 1
  pid_of "$PG_DATA/postmaster.pid" "postgres"
}

pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

pg_ready() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" &&
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$(id -un)" -d kpipe -c 'select 1' >/dev/null
}

pg_free_debian_cluster() {
  # Debian's postgresql package may have created and started a default cluster on our port.
  port_open "$PG_PORT" || return 0
  if command -v pg_lsclusters >/dev/null; then
    local ver name port status
    while read -r ver name port status _; do
      if [[ "$port" == "$PG_PORT" && "$status" == online* ]]; then
        log "stopping Debian's default PostgreSQL cluster $ver/$name, which holds port $PG_PORT"
        pg_ctlcluster "$ver" "$name" stop || true
        # keep it from starting on boot
        [[ -w "/etc/postgresql/$ver/$name/start.conf" ]] && echo manual >"/etc/postgresql/$ver/$name/start.conf"
      fi
    done < <(pg_lsclusters -h 2>/dev/null)
  fi
}

pg_up() {
  ensure_postgres
  pg_paths
  if pg_pid >/dev/null; then
    wait_until "$SERVICE_READY_TIMEOUT" "$PG_LOG" "" PostgreSQL -- pg_ready
    return 0
  fi
  pg_prepare_dir
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "initialising PostgreSQL cluster in $PG_DATA"
    rm -rf "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$STACK_DIR/postgres-initdb.log" 2>&1 ||
      as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
        >"$STACK_DIR/postgres-initdb.log" 2>&1 ||
      { cat "$STACK_DIR/postgres-initdb.log" >&2; die "initdb failed (log: $STACK_DIR/postgres-initdb.log)"; }
    cat >"$STACK_DIR/postgres-hba.conf.tmp" <<'EOF'
# kpipe dev stack: trust on loopback and the private unix socket
local   all all              trust
host    all all 127.0.0.1/32 trust
host    all all ::1/128      trust
EOF
    cp "$STACK_DIR/postgres-hba.conf.tmp" "$PG_DATA/pg_hba.conf"
    rm -f "$STACK_DIR/postgres-hba.conf.tmp"
    is_root && chown postgres: "$PG_DATA/pg_hba.conf"
  fi
  mkdir -p "$PG_SOCK"
  is_root && chown postgres: "$PG_SOCK"
  # Settings we own: written on every start (port may change).
  cat >"$PG_DATA/kpipe-stack.conf.tmp" <<EOF
# written by scripts/stack on every start
port = $PG_PORT
listen_addresses = 'localhost'
unix_socket_directories = '$PG_SOCK'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
$(secure_pg_settings)
EOF
  mv "$PG_DATA/kpipe-stack.conf.tmp" "$PG_DATA/kpipe-stack.conf"
  is_root && chown postgres: "$PG_DATA/kpipe-stack.conf"
  grep -q "^include_if_exists = 'kpipe-stack.conf'" "$PG_DATA/postgresql.conf" ||
    echo "include_if_exists = 'kpipe-stack.conf'" >>"$PG_DATA/postgresql.conf"
  pg_free_debian_cluster
  ensure_port_free "$PG_PORT" PostgreSQL KPIPE_STACK_PG_PORT
  : >"$PG_LOG"
  is_root && chown postgres: "$PG_LOG"
  log "starting PostgreSQL (localhost:$PG_PORT)"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null ||
    { tail -n 30 "$PG_LOG" >&2; die "PostgreSQL did not start (log: $PG_LOG)"; }
  wait_until "$SERVICE_READY_TIMEOUT" "$PG_LOG" "" PostgreSQL -- \
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  pg_bootstrap
  wait_until "$SERVICE_READY_TIMEOUT" "$PG_LOG" "" PostgreSQL -- pg_ready
}

pg_bootstrap() { # idempotent: roles and database
  local me
  me=$(id -un)
  pg_psql -d postgres <<EOF >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kpipe') THEN
    CREATE ROLE kpipe LOGIN PASSWORD 'kpipe';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$me') THEN
    CREATE ROLE "$me" LOGIN SUPERUSER;
  END IF;
END
\$\$;
EOF
  if [[ "$(pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'kpipe'")" != 1 ]]; then
    pg_psql -d postgres -c "CREATE DATABASE kpipe OWNER kpipe" >/dev/null
  fi
  pg_psql -d kpipe -c "GRANT ALL ON DATABASE kpipe TO kpipe; GRANT ALL ON SCHEMA public TO kpipe; ALTER SCHEMA public OWNER TO kpipe" >/dev/null
}

pg_down() {
  local pid
  pg_paths
  if pid=$(pg_pid); then
    log "stopping PostgreSQL (pid $pid)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || stop_pid "$pid" PostgreSQL 30
  fi
}

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------
REDIS_DIR() { echo "$STACK_DIR/redis"; }
redis_pid() { pid_of "$STACK_DIR/redis.pid" "redis-server"; }
redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_free_system_service() {
  # Debian's redis-server package may have started the system service on our port.
  port_open "$REDIS_PORT" || return 0
  local pid
  pid=$(head -n1 /run/redis/redis-server.pid 2>/dev/null | tr -dc '0-9') || true
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && ss -ltnpH "sport = :$REDIS_PORT" 2>/dev/null | grep -q "pid=$pid,"; then
    log "stopping the system redis-server service, which holds port $REDIS_PORT"
    if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
      systemctl stop redis-server || true
      systemctl disable redis-server >/dev/null 2>&1 || true
    else
      service redis-server stop >/dev/null 2>&1 || stop_pid "$pid" redis-server 10
      update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
  fi
}

redis_up() {
  ensure_redis
  if redis_pid >/dev/null; then
    wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/redis.log" "" Redis -- redis_ready
    return 0
  fi
  local dir
  dir=$(REDIS_DIR)
  mkdir -p "$dir"
  cat >"$STACK_DIR/redis.conf" <<EOF
# written by scripts/stack on every start
port $REDIS_PORT
bind 127.0.0.1 -::1
protected-mode yes
daemonize yes
pidfile $STACK_DIR/redis.pid
logfile $STACK_DIR/redis.log
dir $dir
appendonly no
save ""
$(secure_redis_settings)
EOF
  redis_free_system_service
  ensure_port_free "$REDIS_PORT" Redis KPIPE_STACK_REDIS_PORT
  log "starting Redis (localhost:$REDIS_PORT)"
  rm -f "$STACK_DIR/redis.pid"
  redis-server "$STACK_DIR/redis.conf" </dev/null >/dev/null 2>>"$STACK_DIR/redis.log" ||
    { tail -n 30 "$STACK_DIR/redis.log" >&2; die "Redis did not start (log: $STACK_DIR/redis.log)"; }
  wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/redis.log" "" Redis -- redis_ready
}

redis_down() {
  local pid
  if pid=$(redis_pid); then
    log "stopping Redis (pid $pid)"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && stop_pid "$pid" Redis 10
  fi
  rm -f "$STACK_DIR/redis.pid"
}

# ---------------------------------------------------------------------------------------------
# BigQuery emulator
# ---------------------------------------------------------------------------------------------
bq_pid() { pid_of "$STACK_DIR/bq.pid" "bigquery-emulator"; }
bq_url() { echo "http://localhost:$BQ_PORT"; }
bq_ready() { curl -fsS -m 2 "http://127.0.0.1:$BQ_PORT/bigquery/v2/projects/$BQ_PROJECT/datasets" >/dev/null; }
bq_alive() { bq_pid >/dev/null; }

bq_up() {
  command -v curl >/dev/null || apt_install curl ca-certificates
  ensure_bq
  if bq_pid >/dev/null; then
    wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/bq.log" bq_alive "BigQuery emulator" -- bq_ready
    return 0
  fi
  mkdir -p "$STACK_DIR/bq"
  ensure_port_free "$BQ_PORT" "BigQuery emulator" KPIPE_STACK_BQ_PORT
  ensure_port_free "$BQ_GRPC_PORT" "BigQuery emulator (gRPC)" KPIPE_STACK_BQ_PORT
  log "starting the BigQuery emulator (localhost:$BQ_PORT, project $BQ_PROJECT, dataset $BQ_DATASET)"
  start_bg "$STACK_DIR/bq.pid" "$STACK_DIR/bq.log" \
    "$BQ_BIN" --project="$BQ_PROJECT" --dataset="$BQ_DATASET" --host=127.0.0.1 \
    --port="$BQ_PORT" --grpc-port="$BQ_GRPC_PORT" --log-level=info \
    --database="$STACK_DIR/bq/emulator.db"
  wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/bq.log" bq_alive "BigQuery emulator" -- bq_ready
}

bq_down() {
  local pid
  if pid=$(bq_pid); then
    log "stopping the BigQuery emulator (pid $pid)"
    stop_pid "$pid" "BigQuery emulator" 15
  fi
  rm -f "$STACK_DIR/bq.pid"
}

# ---------------------------------------------------------------------------------------------
# Port selection
# ---------------------------------------------------------------------------------------------
ports_needed() { # SERVICE BASE -> every TCP port the service would listen on
  local svc="$1" base="$2" n o
  case "$svc" in
    kafka)
      for ((n = 1; n <= BROKERS; n++)); do
        o=$((100 * (n - 1)))
        echo $((base + o)) $((base + o + 1))
        if [[ $SECURE == 1 ]]; then echo $((base + o + 3)) $((base + o + 4)); fi
      done
      ;;
    bq) echo "$base" $((base + 10)) ;;
    *) echo "$base" ;;
  esac
}

ports_free() { # SERVICE BASE
  local p
  for p in $(ports_needed "$1" "$2"); do
    if port_open "$p"; then return 1; fi
  done
  return 0
}

# choose_port SERVICE VAR ENVVAR RUNNING(0/1)
# A service that runs keeps its port. A port given explicitly (KPIPE_STACK_*) is used as is (a
# clash is reported when the service starts). Otherwise, when the default/persisted port is taken
# by another program (e.g. the stack of another clone of the repo), move up in steps of 1000;
# `scripts/stack env` then points at the ports chosen.
choose_port() {
  local svc="$1" var="$2" envvar="$3" running="$4" base k cand
  base="${!var}"
  [[ $running == 1 ]] && return 0
  ports_free "$svc" "$base" && return 0
  [[ -n "${!envvar:-}" ]] && return 0
  for k in 1 2 3 4 5 6 7 8 9; do
    cand=$((base + 1000 * k))
    ((cand + 300 < 65536)) || break
    if ports_free "$svc" "$cand"; then
      log "port $base for ${svc/bq/the BigQuery emulator} is taken ($(port_owner "$base")); using $cand instead (set $envvar to choose)"
      printf -v "$var" '%s' "$cand"
      return 0
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
cmd_up() {
  local want_brokers="" want_secure=0 want_monitoring=0 bq_background=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --bq-background) bq_background=1; shift ;;
      --brokers) want_brokers="${2:-}"; shift 2 || die "--brokers needs a value (1 or 3)" ;;
      --brokers=*) want_brokers="${1#*=}"; shift ;;
      --secure) want_secure=1; shift ;;
      --monitoring) want_monitoring=1; shift ;;
      -h | --help) usage; return 0 ;;
      *) die "up: unknown option '$1'" ;;
    esac
  done
  load_settings up
  local running
  running=$(kafka_running_layout)
  # Without --brokers: keep the layout that runs, otherwise 1.
  BROKERS="${want_brokers:-${running:-1}}"
  [[ $BROKERS == 1 || $BROKERS == 3 ]] || die "--brokers must be 1 or 3"
  # Without --secure: keep the SASL_SSL listener if the running Kafka has it.
  if [[ $want_secure == 1 ]]; then SECURE=1; elif [[ -n "$running" ]] && kafka_secure_running "$running"; then SECURE=1; else SECURE=0; fi
  # A running service keeps its port: refuse to "move" it silently.
  if [[ -n "$running" && -f "$PORTS_FILE" ]]; then
    local old
    old=$(read_setting KAFKA_PORT)
    [[ -z "$old" || "$old" == "$KAFKA_PORT" ]] || die "Kafka runs on port $old; run 'scripts/stack down' before changing KPIPE_STACK_KAFKA_PORT"
  fi
  mkdir -p "$STACK_DIR"
  local r
  # Ports: keep those of running services; move away from ports other programs hold.
  r=0; [[ -n "$running" ]] && r=1
  choose_port kafka KAFKA_PORT KPIPE_STACK_KAFKA_PORT "$r"
  r=0; if find_pg_bin && pg_pid >/dev/null; then r=1; else pg_free_debian_cluster; fi
  choose_port postgres PG_PORT KPIPE_STACK_PG_PORT "$r"
  r=0; if redis_pid >/dev/null; then r=1; else redis_free_system_service; fi
  choose_port redis REDIS_PORT KPIPE_STACK_REDIS_PORT "$r"
  r=0; bq_pid >/dev/null && r=1
  choose_port bq BQ_PORT KPIPE_STACK_BQ_PORT "$r"
  BQ_GRPC_PORT=$((BQ_PORT + 10))
  # Without --monitoring: a Prometheus that runs is left alone (and stays in the settings).
  if [[ $want_monitoring == 1 ]] || prom_pid >/dev/null; then MONITORING=1; else MONITORING=0; fi
  r=0; prom_pid >/dev/null && r=1
  [[ $MONITORING == 1 ]] && choose_port prometheus PROM_PORT KPIPE_STACK_PROM_PORT "$r"
  save_settings
  # Every service at once, each installed and started by its own job (parallel.sh); the
  # emulator's job is detached, so that --bq-background can return before its build is done.
  trap 'rm -f "$APT_STAMP"' EXIT
  start_bq_job "$bq_background"
  secure_material_phase
  start_job kafka kafka_up
  start_job postgres pg_up
  start_job redis redis_up
  if [[ $want_monitoring == 1 ]]; then start_job prometheus prom_up; fi
  wait_jobs
  if [[ $bq_background == 0 ]]; then wait_bq_job; fi
  summary "$(($(date +%s) - KPIPE_STACK_T0))" "$bq_background"
}

summary() {
  {
    printf 'stack: up in %s\n' "$(fmt_secs "$1")"
    if [[ ${2:-0} == 1 ]]; then bq_job_summary; fi
    printf '  kafka     %s  (%s broker%s%s)\n' "$(brokers_list "$BROKERS" 0)" "$BROKERS" "$([[ $BROKERS == 1 ]] || echo s)" \
      "$([[ $SECURE == 1 ]] && echo ", SASL_SSL $(brokers_list "$BROKERS" 1)")"
    printf '  postgres  postgres://kpipe:kpipe@localhost:%s/kpipe\n' "$PG_PORT"
    printf '  redis     redis://localhost:%s\n' "$REDIS_PORT"
    printf '  bigquery  %s  (project %s, dataset %s)\n' "$(bq_url)" "$BQ_PROJECT" "$BQ_DATASET"
    if prom_pid >/dev/null; then printf '  prometheus %s\n' "$(prom_url)"; fi
    # shellcheck disable=SC2016
    printf '  eval "$(scripts/stack env)" exports the KPIPE_* variables%s\n' "$([[ $SECURE == 1 ]] && echo '; env --secure for SASL_SSL')"
  } >&2
}

cmd_down() {
  local wipe=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --wipe) wipe=1; shift ;;
      *) die "down: unknown option '$1'" ;;
    esac
  done
  load_settings
  find_pg_bin || true
  prom_down
  bq_job_down
  bq_down
  rm -f "$BQ_JOB_PID" "$BQ_JOB_STATUS"
  redis_down
  [[ -n "$PG_BIN" ]] && pg_down
  kafka_down
  if [[ $wipe == 1 ]]; then
    pg_paths
    if [[ -L "$PG_LINK" ]]; then
      local target
      target=$(readlink "$PG_LINK")
      rm -rf "$target"
      if [[ "$(basename "$(dirname "$target")")" == kpipe-stack-* ]]; then rmdir "$(dirname "$target")" 2>/dev/null || true; fi
    fi
    log "deleting $STACK_DIR"
    rm -rf "$STACK_DIR"
  fi
  log "down"
}

cmd_status() {
  load_settings
  find_pg_bin || true
  local all=0 layout n pid state
  printf '%-12s %-8s %-28s %s\n' SERVICE STATE ADDRESS PID
  row() { # name state address pid
    printf '%-12s %-8s %-28s %s\n' "$1" "$2" "$3" "${4:--}"
    [[ $2 == running ]] || all=1
  }
  layout=$(kafka_running_layout)
  layout=${layout:-$BROKERS}
  for ((n = 1; n <= layout; n++)); do
    if pid=$(kafka_pid "$n" "$layout"); then state=running; else state=stopped pid=""; fi
    row "kafka-$n" "$state" "localhost:$(kafka_client_port "$n")" "$pid"
    if [[ $state == running ]] && kafka_secure_running "$layout"; then
      printf '%-12s %-8s %-28s %s\n' "  sasl_ssl" "" "localhost:$(kafka_secure_port "$n")" ""
    fi
  done
  if [[ -n "$PG_BIN" ]] && pid=$(pg_pid) && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then state=running; else state=stopped pid=""; fi
  row postgres "$state" "localhost:$PG_PORT" "$pid"
  if pid=$(redis_pid) && redis_ready; then state=running; else state=stopped pid=""; fi
  row redis "$state" "localhost:$REDIS_PORT" "$pid"
  if pid=$(bq_pid) && bq_ready; then state=running; elif pid=$(bq_job_pid); then state=building; else state=stopped pid=""; fi
  row bigquery "$state" "localhost:$BQ_PORT" "$pid"
  # Listed when it runs or was asked for (up --monitoring); a stack without it is complete.
  if pid=$(prom_pid) && prom_ready; then
    row prometheus running "localhost:$PROM_PORT" "$pid"
  elif [[ $MONITORING == 1 ]]; then
    row prometheus stopped "localhost:$PROM_PORT" ""
  fi
  return $all
}

cmd_env() {
  local secure=0 user="" password=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --secure) secure=1; shift ;;
      # One of the secure stack's least-privilege SCRAM users (kafka-acls.txt) instead of the admin.
      --user)
        [[ $# -ge 2 ]] || die "env: --user needs a name (one of the users in $STACK_D/kafka-acls.txt)"
        user="$2"; secure=1; shift 2
        password=$(awk -v u="$user" '$1 == "user" && $2 == u {print $3}' "$STACK_D/kafka-acls.txt")
        [[ -n "$password" ]] || die "env: no user '$user' in $STACK_D/kafka-acls.txt (known: $(awk '$1 == "user" {printf "%s%s", sep, $2; sep=", "}' "$STACK_D/kafka-acls.txt"))"
        ;;
      *) die "env: unknown option '$1'" ;;
    esac
  done
  load_settings
  if [[ $secure == 1 && $SECURE != 1 ]]; then
    log "warning: the stack was not started with --secure; run 'scripts/stack up --secure' for the SASL_SSL listener"
  fi
  echo "export KPIPE_BROKERS=$(brokers_list "$BROKERS" "$secure")"
  echo "export KPIPE_PG_URL=postgres://kpipe:kpipe@localhost:$PG_PORT/kpipe"
  echo "export KPIPE_REDIS_URL=redis://localhost:$REDIS_PORT"
  echo "export KPIPE_BQ_PROJECT=$BQ_PROJECT"
  echo "export KPIPE_BQ_DATASET=$BQ_DATASET"
  echo "export KPIPE_BQ_ENDPOINT=$(bq_url)"
  if [[ $MONITORING == 1 ]] || prom_pid >/dev/null; then echo "export KPIPE_PROMETHEUS_URL=$(prom_url)"; fi
  if [[ $secure == 1 ]]; then
    echo "export KPIPE_KAFKA_SSL=true"
    echo "export KPIPE_KAFKA_CA_FILE=$STACK_DIR/tls/ca.crt"
    echo "export KPIPE_KAFKA_SASL_MECHANISM=scram-sha-512"
    echo "export KPIPE_KAFKA_USERNAME=${user:-$SCRAM_USER}"
    echo "export KPIPE_KAFKA_PASSWORD=${password:-$SCRAM_PASSWORD}"
  fi
}

cmd_tool() {
  local name="${1:-}" class
  [[ -n "$name" ]] || die "tool: name a tool (see scripts/stack --help)"
  shift
  case "${name%.sh}" in
    kafka-topics) class=org.apache.kafka.tools.TopicCommand ;;
    kafka-configs) class=kafka.admin.ConfigCommand ;;
    kafka-consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    kafka-producer-perf-test) class=org.apache.kafka.tools.ProducerPerformance ;;
    kafka-consumer-perf-test) class=org.apache.kafka.tools.ConsumerPerformance ;;
    kafka-console-producer) class=org.apache.kafka.tools.ConsoleProducer ;;
    kafka-console-consumer) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    kafka-storage) class=kafka.tools.StorageTool ;;
    kafka-get-offsets) class=org.apache.kafka.tools.GetOffsetShell ;;
    kafka-metadata-quorum) class=org.apache.kafka.tools.MetadataQuorumCommand ;;
    kafka-delete-records) class=org.apache.kafka.tools.DeleteRecordsCommand ;;
    kafka-transactions) class=org.apache.kafka.tools.TransactionsCommand ;;
    connect-standalone) class=org.apache.kafka.connect.cli.ConnectStandalone ;;
    *) die "tool: unknown tool '$name' (see scripts/stack --help)" ;;
  esac
  ensure_kafka
  local level=WARN
  [[ $class == *ConnectStandalone ]] && level=INFO
  exec java -Xmx256M "${JAVA_GC_OPTS[@]}" -Dlog4j2.configurationFile="$STACK_D/tools-log4j2.yaml" \
    -Dkpipe.tool.log.level="$level" -cp "$KAFKA_LIBS/*" "$class" "$@"
}

# shellcheck source-path=SCRIPTDIR source=prometheus.sh
source "$STACK_D/prometheus.sh"
# shellcheck source-path=SCRIPTDIR source=secure.sh
source "$STACK_D/secure.sh"
# shellcheck source-path=SCRIPTDIR source=parallel.sh
source "$STACK_D/parallel.sh"
