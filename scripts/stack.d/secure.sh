# shellcheck shell=bash
# `scripts/stack up --secure`: the listeners, certificates, SCRAM users and ACLs of the secure
# stack. Sourced by lib.sh; uses its helpers (log, die, kafka_java, make_tls, ...).
#
#   SASL_SSL  KAFKA_PORT+3  SCRAM-SHA-512 over TLS (server certificate from the stack's CA)
#   SSL       KAFKA_PORT+4  mutual TLS: the client presents a certificate of the stack's CA;
#                           its principal is the certificate's CN (User:kpipe-mtls)
#
# Authorization is Kafka's StandardAuthorizer; the SCRAM users and ACLs are in kafka-acls.txt.
# Everything is made once and kept across restarts; users and ACLs are (re)applied on every up.

MTLS_USER="kpipe-mtls"

kafka_mtls_port() { echo $((KAFKA_PORT + 4 + 100 * ($1 - 1))); }

# Appends the secure listeners of node $1 to the caller's listeners, advertised and pmap.
secure_listeners() {
  local n="$1"
  listeners+=",SASL_SSL://127.0.0.1:$(kafka_secure_port "$n"),SSL://127.0.0.1:$(kafka_mtls_port "$n")"
  advertised+=",SASL_SSL://localhost:$(kafka_secure_port "$n"),SSL://localhost:$(kafka_mtls_port "$n")"
  pmap+=",SASL_SSL:SASL_SSL,SSL:SSL"
}

# The secure part of server.properties.
secure_kafka_properties() {
  sed -e "s|@KEYSTORE@|$STACK_DIR/tls/broker.p12|g" -e "s|@TRUSTSTORE@|$STACK_DIR/tls/truststore.p12|g" \
    -e "s|@STOREPASS@|$TLS_STOREPASS|g" -e "s|@SCRAM_USER@|$SCRAM_USER|g" \
    "$STACK_D/kafka-secure.properties.in"
}

# A key and a certificate for CN=$2 signed by the CA in $1 (files $3.key, $3.crt in $1).
secure_sign() {
  local dir="$1" cn="$2" name="$3" usage="$4" san="${5:-}"
  (
    cd "$dir" || exit 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>/dev/null
    { printf 'extendedKeyUsage=%s\n' "$usage"; [[ -n "$san" ]] && printf 'subjectAltName=%s\n' "$san"; } >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext" ca.srl
    chmod 600 "$name.key"
  )
}

# The CA and broker keystore (lib.sh's make_tls), a client certificate for mutual TLS, and, for
# tests of a refused certificate, a client certificate of another CA (tls/foreign/).
secure_prepare() {
  make_tls
  local tls="$STACK_DIR/tls"
  if [[ ! -f "$tls/client.crt" ]]; then
    log "creating a client certificate (CN=$MTLS_USER) for mutual TLS in $tls"
    secure_sign "$tls" "$MTLS_USER" client clientAuth
  fi
  if [[ ! -f "$tls/foreign/client.crt" ]]; then
    mkdir -p "$tls/foreign"
    (
      cd "$tls/foreign" || exit 1
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kpipe-foreign-ca" \
        -keyout ca.key -out ca.crt 2>/dev/null
      chmod 600 ca.key
    )
    secure_sign "$tls/foreign" "$MTLS_USER" client clientAuth
  fi
}

# SCRAM users and ACLs, through the PLAINTEXT listener (a super user). Idempotent.
secure_setup() {
  local bs out
  # A Kafka started before the secure stack had an authorizer runs on without one (createAcls
  # would fail with SECURITY_DISABLED): say how to get it, and leave that Kafka as it is.
  if ! grep -q '^authorizer.class.name' "$(kafka_node_dir 1 "$BROKERS")/server.properties" 2>/dev/null; then
    log "warning: the running Kafka has no authorizer (started by an older scripts/stack); run 'scripts/stack down' then 'scripts/stack up --secure' for ACLs and mutual TLS"
    return 0
  fi
  bs=$(brokers_list "$BROKERS" 0)
  # Java's single-file source launcher compiles SecureSetup.java in memory (no build step); it
  # needs the compiler module, which the JRE that ensure_java installs lacks.
  if ! java --list-modules 2>/dev/null | grep -q '^jdk.compiler'; then apt_install openjdk-17-jdk-headless; fi
  if ! out=$(kafka_java "$STACK_D/SecureSetup.java" "$bs" "$STACK_D/kafka-acls.txt" 2>&1); then
    printf '%s\n' "$out" >&2
    die "creating the secure stack's users and ACLs failed"
  fi
  log "secure listeners: SASL_SSL $(brokers_list "$BROKERS" 1), mutual TLS $(secure_mtls_brokers); $out"
  # What a client needs for mutual TLS, for `. .stack/tls/mtls.env` and the tests.
  cat >"$STACK_DIR/tls/mtls.env" <<EOF
export KPIPE_BROKERS=$(secure_mtls_brokers)
export KPIPE_KAFKA_SSL=true
export KPIPE_KAFKA_CA_FILE=$STACK_DIR/tls/ca.crt
export KPIPE_KAFKA_CERT_FILE=$STACK_DIR/tls/client.crt
export KPIPE_KAFKA_KEY_FILE=$STACK_DIR/tls/client.key
EOF
  # PostgreSQL over TLS (verified) and Redis with a password over TLS.
  cat >"$STACK_DIR/tls/services.env" <<EOF
export KPIPE_PG_URL='postgres://kpipe:kpipe@localhost:$PG_PORT/kpipe?sslmode=verify-full&sslrootcert=$STACK_DIR/tls/ca.crt'
export KPIPE_REDIS_URL='rediss://$REDIS_SECURE_USER:$REDIS_SECURE_PASSWORD@localhost:$(redis_tls_port)'
export NODE_EXTRA_CA_CERTS='$STACK_DIR/tls/ca.crt'
EOF
}

secure_mtls_brokers() {
  local n out=""
  for ((n = 1; n <= BROKERS; n++)); do out+="${out:+,}localhost:$(kafka_mtls_port "$n")"; done
  echo "$out"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL and Redis under --secure. Plain connections keep working unchanged (the other tests
# and the demo use them); TLS and passwords are offered beside them:
#   PostgreSQL  ssl = on with a server certificate of the stack's CA (sslmode=verify-full works)
#   Redis       an ACL user kpipe-redis with a password, and a TLS port (REDIS_PORT+1)
REDIS_SECURE_USER="kpipe-redis"
REDIS_SECURE_PASSWORD="kpipe-redis-secret"
redis_tls_port() { echo $((REDIS_PORT + 1)); }

# A server certificate for localhost (PostgreSQL and Redis), made once.
secure_server_cert() {
  local tls="$STACK_DIR/tls"
  [[ -f "$tls/server.crt" ]] && return 0
  log "creating a server certificate (CN=localhost) for PostgreSQL and Redis in $tls"
  secure_sign "$tls" localhost server serverAuth "DNS:localhost,IP:127.0.0.1"
}

# Lines for kpipe-stack.conf (printed; empty without --secure). PostgreSQL wants its key owned by
# its OS user with mode 600, so the pair is copied into the data directory.
secure_pg_settings() {
  [[ $SECURE == 1 ]] || return 0
  secure_prepare >&2
  secure_server_cert >&2
  install -m 644 "$STACK_DIR/tls/server.crt" "$PG_DATA/kpipe-server.crt"
  install -m 600 "$STACK_DIR/tls/server.key" "$PG_DATA/kpipe-server.key"
  if is_root; then chown postgres: "$PG_DATA/kpipe-server.crt" "$PG_DATA/kpipe-server.key"; fi
  printf "ssl = on\nssl_cert_file = 'kpipe-server.crt'\nssl_key_file = 'kpipe-server.key'\n"
}

# Lines for redis.conf (printed; empty without --secure). The default user stays as it was (no
# password), so redis://localhost keeps working; kpipe-redis needs its password.
secure_redis_settings() {
  [[ $SECURE == 1 ]] || return 0
  secure_prepare >&2
  secure_server_cert >&2
  cat <<CONF
user $REDIS_SECURE_USER on >$REDIS_SECURE_PASSWORD ~* &* +@all
tls-port $(redis_tls_port)
tls-cert-file $STACK_DIR/tls/server.crt
tls-key-file $STACK_DIR/tls/server.key
tls-ca-cert-file $STACK_DIR/tls/ca.crt
tls-auth-clients no
CONF
}
