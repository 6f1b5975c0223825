# shellcheck shell=bash disable=SC2153
# Parallel start-up for `scripts/stack up`, sourced by lib.sh.
#
# Each service is installed and started by a job of its own (Kafka: Maven fetch, format, start;
# PostgreSQL and Redis: Debian packages, start; Prometheus), so a cold start costs the slowest of
# them, not their sum. apt is the one thing they share: apt_install serialises it (lib.sh).
#
# The BigQuery emulator, whose first build takes minutes, runs as a detached job
# (`scripts/stack _bq-job`, log .stack/bq-job.log) that outlives `up`: `up` waits for it unless
# given --bq-background, and `scripts/stack wait bq` waits for it later. Its result is kept in
# .stack/bq-job.status, so a failed build surfaces as an error whoever waits.

# Seconds since this `up` began (the detached job is given its start: KPIPE_STACK_JOB_T0).
KPIPE_STACK_T0=$(date +%s)
# 41s, 1m32s
fmt_secs() { if (($1 < 60)); then echo "${1}s"; else printf '%dm%02ds\n' $(($1 / 60)) $(($1 % 60)); fi; }
since_up() { fmt_secs $(($(date +%s) - KPIPE_STACK_T0)); }

# ---------------------------------------------------------------------------------------------
# Jobs of one `up` (children of this shell)
# ---------------------------------------------------------------------------------------------
JOB_PIDS=()
JOB_NAMES=()

# start_job NAME FN [ARGS...]: FN in a background subshell; prints "NAME ready in Ns" when done.
start_job() {
  local name="$1"
  shift
  # Not `"$@" && log`: errexit is off on the left of &&, and the start functions rely on it.
  (
    "$@"
    log "$name ready in $(since_up)"
  ) &
  JOB_PIDS+=("$!")
  JOB_NAMES+=("$name")
}

# wait_jobs: waits for every job (a failing one does not cut the others short: an apt or a
# Maven run killed half-way would leave a mess); dies naming those that failed.
wait_jobs() {
  local i failed=()
  for i in "${!JOB_PIDS[@]}"; do
    wait "${JOB_PIDS[$i]}" || failed+=("${JOB_NAMES[$i]}")
  done
  JOB_PIDS=()
  JOB_NAMES=()
  ((${#failed[@]} == 0)) || die "could not bring up ${failed[*]} (see the errors above)"
}

# --secure: the TLS material (secure.sh: CA, broker keystore, client and server certificates),
# made once before the services' jobs start. Kafka, PostgreSQL and Redis each ask for it
# (secure_prepare); made by two jobs at once it would mix two CAs. Kafka's jars, which need none
# of it, are fetched meanwhile by a job of their own.
secure_material_phase() {
  [[ $SECURE == 1 ]] || return 0
  start_job "kafka jars" ensure_kafka
  ensure_java # keytool
  secure_prepare
  secure_server_cert
  log "TLS material ready in $(since_up)"
}

# ---------------------------------------------------------------------------------------------
# The BigQuery emulator's detached job
# ---------------------------------------------------------------------------------------------
BQ_JOB_PID="$STACK_DIR/bq-job.pid"     # pid, then the emulator version it builds
BQ_JOB_STATUS="$STACK_DIR/bq-job.status" # exit status, written when the job ends
BQ_JOB_LOG="$STACK_DIR/bq-job.log"

bq_job_pid() { pid_of "$BQ_JOB_PID" "_bq-job"; }
bq_job_version() { sed -n 2p "$BQ_JOB_PID" 2>/dev/null; }

# Runs in the detached process: install (build) and start the emulator, record the outcome.
cmd_bq_job() {
  trap 'echo $? >"$BQ_JOB_STATUS.tmp" && mv -f "$BQ_JOB_STATUS.tmp" "$BQ_JOB_STATUS"' EXIT
  KPIPE_STACK_T0="${KPIPE_STACK_JOB_T0:-$KPIPE_STACK_T0}"
  load_settings
  bq_up
  log "bigquery ready in $(since_up)"
}

# start_bq_job BACKGROUND(0/1): starts the job unless one for this version runs already.
start_bq_job() {
  local background="$1" pid
  if pid=$(bq_job_pid); then
    if [[ $background == 1 && "$(bq_job_version)" == "$BQ_EMULATOR_VERSION" ]]; then
      log "the BigQuery emulator job (pid $pid) is still running; leaving it to finish"
      return 0
    fi
    log "waiting for the running BigQuery emulator job (pid $pid) to finish first"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  fi
  rm -f "$BQ_JOB_STATUS"
  [[ -f "$BQ_JOB_LOG" ]] && mv -f "$BQ_JOB_LOG" "$BQ_JOB_LOG.1"
  # setsid + no inherited stdio: the job outlives `up` and holds no pipe of its caller open.
  KPIPE_STACK_JOB_T0=$KPIPE_STACK_T0 setsid nohup "$REPO_DIR/scripts/stack" _bq-job </dev/null >"$BQ_JOB_LOG" 2>&1 &
  printf '%s\n%s\n' "$!" "$BQ_EMULATOR_VERSION" >"$BQ_JOB_PID"
}

# wait_bq_job: shows the job's output (live if it still runs), waits for its end, dies if it failed.
wait_bq_job() {
  local pid status streamed=0
  if pid=$(bq_job_pid); then
    tail -n +1 -f --pid="$pid" "$BQ_JOB_LOG" >&2 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    streamed=1
  fi
  if [[ ! -f "$BQ_JOB_PID" && ! -f "$BQ_JOB_STATUS" ]]; then
    # No job was ever started here (a stack from before this script): the emulator must answer.
    bq_pid >/dev/null && wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/bq.log" bq_alive "BigQuery emulator" -- bq_ready && return 0
    die "the BigQuery emulator is not running; run scripts/stack up"
  fi
  status=$(cat "$BQ_JOB_STATUS" 2>/dev/null) || true
  if [[ $status == 0 ]]; then
    [[ $streamed == 1 ]] || grep '^stack: ' "$BQ_JOB_LOG" >&2 2>/dev/null || true
    bq_ready || die "the BigQuery emulator started but does not answer now (stopped since?); run scripts/stack up"
    return 0
  fi
  if [[ -z "$status" ]]; then
    err "the BigQuery emulator job (pid $(head -n1 "$BQ_JOB_PID")) ended without a result (killed?)"
  else
    err "the BigQuery emulator job failed (exit $status)"
  fi
  if [[ $streamed == 0 ]]; then
    err "last lines of $BQ_JOB_LOG:"
    tail -n 15 "$BQ_JOB_LOG" >&2 2>/dev/null || true
  fi
  die "the BigQuery emulator could not be built or started (full log: $BQ_JOB_LOG); scripts/stack up retries"
}

# One line for the summary of `up --bq-background`; its exit status does not depend on the job
# (which may still run): `wait bq` is where a failure is an error.
bq_job_summary() {
  local status
  if bq_job_pid >/dev/null; then
    printf 'stack: the BigQuery emulator is being built or started in the background; scripts/stack wait bq waits for it (log: %s)\n' "$BQ_JOB_LOG"
  else
    status=$(cat "$BQ_JOB_STATUS" 2>/dev/null) || true
    if [[ $status != 0 ]]; then printf 'stack: warning: the BigQuery emulator job failed; scripts/stack wait bq says why (log: %s)\n' "$BQ_JOB_LOG"; fi
  fi
}

bq_job_down() {
  local pid
  if pid=$(bq_job_pid); then
    log "stopping the BigQuery emulator job (pid $pid)"
    # Its own session (setsid): the process group takes the go build with it.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    stop_pid "$pid" "BigQuery emulator job" 15
  fi
}

cmd_wait() {
  local what="${1:-}"
  [[ $what == bq ]] || die "wait: say what to wait for: scripts/stack wait bq"
  load_settings
  wait_bq_job
}
