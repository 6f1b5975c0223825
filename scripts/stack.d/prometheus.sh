# shellcheck shell=bash disable=SC2153
# Prometheus for scripts/stack (`up --monitoring`), sourced by lib.sh. Debian's package, run from
# the stack's own data directory (.stack/prometheus), never as the system service.
#
# It scrapes kpipe's well-known ports on localhost (9464 events, 9465 logs, 9466 analytics, 9467
# `kpipe lag --serve`) and every target listed in .stack/prometheus/targets/*.json (file_sd), so a
# test or a second worker on a port of its own can be scraped without restarting Prometheus.

# The real path: the running server keeps it, and .stack may be a symlink of a checkout that goes away.
PROM_DIR() { echo "$(cd -P "$STACK_DIR" && pwd)/prometheus"; }
prom_pid() { pid_of "$STACK_DIR/prometheus.pid" "prometheus"; }
prom_ready() { curl -fsS -m 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null; }
prom_alive() { prom_pid >/dev/null; }
prom_url() { echo "http://localhost:$PROM_PORT"; }

ensure_prometheus() {
  command -v curl >/dev/null || apt_install curl ca-certificates
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    apt_install prometheus
    prom_free_system_service
  fi
  # What checks deploy/ comes with monitoring: promtool (above) for the alert rules and
  # systemd-analyze for the service units (present wherever systemd is; not in every container).
  command -v systemd-analyze >/dev/null || apt_install systemd
}

prom_free_system_service() {
  # Debian's postinst starts the system service, on 9090 with /var/lib/prometheus: ours runs instead.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
    systemctl disable prometheus >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/prometheus ]]; then
    service prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
}

prom_write_config() {
  local dir
  dir=$(PROM_DIR)
  mkdir -p "$dir/data" "$dir/targets" "$dir/rules"
  # The alert rules of this checkout, so that the local Prometheus evaluates what production would.
  rm -f "$dir/rules/"*.yml
  if [[ -f "$REPO_DIR/deploy/prometheus/alerts.yml" ]]; then cp "$REPO_DIR/deploy/prometheus/alerts.yml" "$dir/rules/kpipe-alerts.yml"; fi
  # A short interval: a local stack is for tests and demos, which want a scrape within seconds.
  cat >"$dir/prometheus.yml.tmp" <<EOF
# written by scripts/stack on every start of Prometheus
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: kpipe
    static_configs:
      - targets: ['localhost:9464']
        labels: {exporter: worker}
      - targets: ['localhost:9465']
        labels: {exporter: worker}
      - targets: ['localhost:9466']
        labels: {exporter: worker}
      - targets: ['localhost:9467']
        labels: {exporter: lag}
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_interval: 2s
EOF
  mv "$dir/prometheus.yml.tmp" "$dir/prometheus.yml"
}

prom_up() {
  ensure_prometheus
  # One start at a time: tests of several checkouts may ask for the shared stack's Prometheus at once.
  if command -v flock >/dev/null; then
    (
      flock -w 120 9 || die "could not lock $STACK_DIR/prometheus.lock"
      prom_up_locked
    ) 9>"$STACK_DIR/prometheus.lock"
  else
    prom_up_locked
  fi
}

prom_up_locked() {
  if prom_pid >/dev/null; then
    wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/prometheus.log" prom_alive Prometheus -- prom_ready
    # The configuration and rules of this checkout, without a restart (a refused reload keeps
    # the running configuration and is only reported).
    prom_write_config
    curl -fsS -m 10 -X POST "http://127.0.0.1:$PROM_PORT/-/reload" >/dev/null ||
      log "warning: Prometheus refused to reload $(PROM_DIR)/prometheus.yml; see $STACK_DIR/prometheus.log"
    return 0
  fi
  prom_write_config
  ensure_port_free "$PROM_PORT" Prometheus KPIPE_STACK_PROM_PORT
  log "starting Prometheus (localhost:$PROM_PORT)"
  local dir
  dir=$(PROM_DIR)
  start_bg "$STACK_DIR/prometheus.pid" "$STACK_DIR/prometheus.log" \
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$PROM_PORT" \
    --web.enable-lifecycle 9>&- # the server must not inherit (and hold) the lock above
  wait_until "$SERVICE_READY_TIMEOUT" "$STACK_DIR/prometheus.log" prom_alive Prometheus -- prom_ready
}

prom_down() {
  local pid
  if pid=$(prom_pid); then
    log "stopping Prometheus (pid $pid)"
    stop_pid "$pid" Prometheus 15
  fi
  rm -f "$STACK_DIR/prometheus.pid"
}
