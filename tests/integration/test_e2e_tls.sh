#!/usr/bin/env bash
# HTTPS upstreams through the rendered data path, with a CA and certificates made here at
# test time (never committed): a certificate for the upstream's name from the configured CA
# works (with SNI), one for another name or from another CA is refused with a JSON 502.
source "$(dirname "$0")/lib.sh"

read -r GOOD WRONG ROGUE SNI IPCN F_GOOD F_WRONG F_ROGUE F_SNI F_IPW F_IPCN SPOP LOGS ADMIN < <(free_ports 14 | xargs)

# make_cert NAME CN SAN CA_PREFIX: a key and a certificate signed by CA_PREFIX.{pem,key}.
make_cert() {
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null &&
        printf 'subjectAltName=%s\n' "$3" >"$T/$1.ext" &&
        openssl x509 -req -in "$T/$1.csr" -CA "$T/$4.pem" -CAkey "$T/$4.key" -CAcreateserial \
            -days 1 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
make_ca() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$1" \
        -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
check "test CAs made" bash -c "$(declare -f make_ca); T=$T; make_ca ca && make_ca rogue-ca"
check "certificate for localhost/127.0.0.1" make_cert good localhost "DNS:localhost,IP:127.0.0.1" ca
check "certificate for another name" make_cert wrong wrong.example "DNS:wrong.example" ca
check "certificate for localhost from another CA" make_cert rogue localhost "DNS:localhost" rogue-ca
check "certificate named 127.0.0.1" make_cert ipcn 127.0.0.1 "IP:127.0.0.1" ca

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: good, address: 127.0.0.1, port: $F_GOOD, upstream_group: g_good}
    - {name: wrong, address: 127.0.0.1, port: $F_WRONG, upstream_group: g_wrong}
    - {name: rogue, address: 127.0.0.1, port: $F_ROGUE, upstream_group: g_rogue}
    - {name: sni, address: 127.0.0.1, port: $F_SNI, upstream_group: g_sni}
    - {name: ipw, address: 127.0.0.1, port: $F_IPW, upstream_group: g_ipw}
    - {name: ipcn, address: 127.0.0.1, port: $F_IPCN, upstream_group: g_ipcn}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: good, url: "https://localhost:$GOOD/v1", tls: {ca_file: "$T/ca.pem"}}
  - {name: wrong, url: "https://localhost:$WRONG/v1", tls: {ca_file: "$T/ca.pem"}}
  - {name: rogue, url: "https://localhost:$ROGUE/v1", tls: {ca_file: "$T/ca.pem"}}
  - {name: sni, url: "https://localhost:$SNI", tls: {ca_file: "$T/ca.pem"}}
  - {name: ipw, url: "https://127.0.0.1:$WRONG/v1", tls: {ca_file: "$T/ca.pem"}}
  - {name: ipcn, url: "https://127.0.0.1:$IPCN/v1", tls: {ca_file: "$T/ca.pem"}}
upstream_groups:
  - {name: g_good, upstreams: [{name: good}]}
  - {name: g_wrong, upstreams: [{name: wrong}]}
  - {name: g_rogue, upstreams: [{name: rogue}]}
  - {name: g_sni, upstreams: [{name: sni}]}
  - {name: g_ipw, upstreams: [{name: ipw}]}
  - {name: g_ipcn, upstreams: [{name: ipcn}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

for m in good:$GOOD wrong:$WRONG rogue:$ROGUE ipcn:$IPCN; do
    start_mock "${m%%:*}" "${m#*:}" --tls-cert "$T/${m%%:*}.pem" --tls-key "$T/${m%%:*}.key" || finish
done
start_stack "$T/config.yaml" || finish
export MOCK_SCHEME=https

st=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$F_GOOD/chat/completions" -d '{"model":"m"}')
check "a certificate for the upstream's name from the configured CA: 200 ($st)" test "$st" = 200
check "... answered by the TLS mock" test "$(jq -r '.choices[0].message.content' "$T/body")" = good
check "... which saw Host localhost:$GOOD and the joined path" \
    test "$(mock_records "$GOOD" '.[-1] | .host + " " + .path')" = "localhost:$GOOD /v1/chat/completions"
# SNI: this server presents the localhost certificate only to a client whose hello names
# localhost, and the wrong-name one to any other, so a 200 proves the SNI was sent.
spawn sni_server openssl s_server -accept "127.0.0.1:$SNI" -www -quiet -naccept 1 \
    -cert "$T/wrong.pem" -key "$T/wrong.key" -servername localhost -cert2 "$T/good.pem" -key2 "$T/good.key"
wait_port "$SNI"
st=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F_SNI/")
check "SNI localhost is sent: the SNI-selected certificate verifies (status $st)" test "$st" = 200

for case in wrong rogue; do
    port_var=F_${case^^}
    st=$(curl -s -m 10 -D "$T/h" -o "$T/body" -w '%{http_code}' "http://127.0.0.1:${!port_var}/chat/completions" -d '{}')
    check "$case certificate refused: 502 ($st)" test "$st" = 502
    check "... with the JSON upstream_unreachable error ($(jq -r .error.code "$T/body" 2>/dev/null))" \
        test "$(jq -r .error.code "$T/body" 2>/dev/null)" = upstream_unreachable
    mock_port_var=${case^^}
    check "... and no request reached the $case mock" test "$(mock_count "${!mock_port_var}")" = 0
done
# An address in the URL: no SNI, so the address itself is the name to verify. HAProxy 2.6
# matches it against the CN and DNS names of the certificate (not IP SANs).
st=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F_IPW/models")
check "https://127.0.0.1: a CA-signed certificate for another name is refused ($st)" test "$st" = 502
st=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F_IPCN/models")
check "https://127.0.0.1: a certificate named 127.0.0.1 is accepted ($st)" test "$st" = 200
finish
