#!/usr/bin/env bash
# Throwaway PKI for tests and the quickstart, made with the openssl CLI.
#
#   source scripts/lib/pki.sh; make_pki DIR      (or run: scripts/lib/pki.sh DIR)
#
# Keys are ECDSA P-256. Everything lands in DIR:
#   ca.pem                  test CA certificate (what --sslCAFile / tlsCAFile take)
#   server.pem              server key + certificate (SAN DNS:localhost, IP:127.0.0.1)
#   server-enc.pem          same, key encrypted with $PKI_SERVER_PASSWORD
#   elsewhere-server.pem    a server certificate for db.elsewhere.example only
#   client.pem              client key + certificate (CN=client), signed by the CA
#   client-enc.pem          same client, key encrypted with $PKI_CLIENT_PASSWORD
#   ca2.pem                 a second, unrelated CA
#   other-client.pem        client key + certificate signed by ca2 (invalid for ca.pem)
#   revoked-client.pem      client signed by the CA, then revoked
#   crl.pem                 CRL from the CA listing revoked-client
#   passwords.txt           the two passwords, for people
# The CA's private state (keys, index, serial) is kept under DIR/ca/ and DIR/ca2/.
# Files are readable by the owner only where they hold unencrypted keys.

PKI_SERVER_PASSWORD=${PKI_SERVER_PASSWORD:-server-key-pass}
PKI_CLIENT_PASSWORD=${PKI_CLIENT_PASSWORD:-client-key-pass}

_pki_ca_conf() { # CADIR -> writes CADIR/ca.cnf
    local d=$1
    cat >"$d/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca

[ test_ca ]
dir              = $d
database         = \$dir/index.txt
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
new_certs_dir    = \$dir/newcerts
certificate      = \$dir/ca.crt
private_key      = \$dir/ca.key
default_md       = sha256
default_days     = 825
default_crl_days = 30
policy           = policy_any
copy_extensions  = none
unique_subject   = no
email_in_dn      = no

[ policy_any ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
emailAddress           = optional

[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ elsewhere_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:db.elsewhere.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
CNF
}

_pki_key() { # FILE
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

_pki_new_ca() { # CADIR SUBJECT
    local d=$1 subj=$2
    mkdir -p "$d/newcerts"
    : >"$d/index.txt"
    echo 1000 >"$d/serial"
    echo 1000 >"$d/crlnumber"
    _pki_ca_conf "$d"
    _pki_key "$d/ca.key"
    openssl req -x509 -new -key "$d/ca.key" -sha256 -days 3650 -subj "$subj" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$d/ca.crt"
}

_pki_issue() { # CADIR NAME SUBJECT EXT OUTDIR -> OUTDIR/NAME.key, NAME.crt, NAME.pem
    local d=$1 name=$2 subj=$3 ext=$4 out=$5
    _pki_key "$out/$name.key"
    openssl req -new -key "$out/$name.key" -subj "$subj" -out "$d/$name.csr"
    openssl ca -batch -notext -config "$d/ca.cnf" -extensions "$ext" \
        -in "$d/$name.csr" -out "$out/$name.crt" 2>/dev/null
    cat "$out/$name.key" "$out/$name.crt" >"$out/$name.pem"
    chmod 600 "$out/$name.pem"
}

_pki_encrypted_pem() { # KEY CRT PASSWORD OUT
    openssl pkey -in "$1" -aes256 -passout "pass:$3" -out "$4.key.tmp"
    cat "$4.key.tmp" "$2" >"$4"
    rm -f "$4.key.tmp"
    chmod 600 "$4"
}

make_pki() { # DIR
    local dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    (
        set -euo pipefail
        _pki_new_ca "$dir/ca" "/O=mongossl-test/OU=CA/CN=mongossl test CA"
        cp "$dir/ca/ca.crt" "$dir/ca.pem"

        _pki_issue "$dir/ca" server "/O=mongossl-test/OU=server/CN=localhost" server_ext "$dir"
        _pki_encrypted_pem "$dir/server.key" "$dir/server.crt" "$PKI_SERVER_PASSWORD" "$dir/server-enc.pem"

        # A server certificate for another host: the tunnel must refuse it.
        _pki_issue "$dir/ca" elsewhere-server "/O=mongossl-test/OU=server/CN=db.elsewhere.example" elsewhere_ext "$dir"

        _pki_issue "$dir/ca" client "/O=mongossl-test/OU=clients/CN=client" client_ext "$dir"
        _pki_encrypted_pem "$dir/client.key" "$dir/client.crt" "$PKI_CLIENT_PASSWORD" "$dir/client-enc.pem"

        _pki_issue "$dir/ca" revoked-client "/O=mongossl-test/OU=clients/CN=revoked-client" client_ext "$dir"
        openssl ca -batch -config "$dir/ca/ca.cnf" -revoke "$dir/revoked-client.crt" 2>/dev/null
        openssl ca -batch -config "$dir/ca/ca.cnf" -gencrl -out "$dir/crl.pem" 2>/dev/null

        _pki_new_ca "$dir/ca2" "/O=other-org/OU=CA/CN=unrelated CA"
        cp "$dir/ca2/ca.crt" "$dir/ca2.pem"
        _pki_issue "$dir/ca2" other-client "/O=other-org/OU=clients/CN=other-client" client_ext "$dir"

        printf 'server-enc.pem key password: %s\nclient-enc.pem key password: %s\n' \
            "$PKI_SERVER_PASSWORD" "$PKI_CLIENT_PASSWORD" >"$dir/passwords.txt"

        # Sanity: the chain verifies, the revoked one fails with the CRL.
        openssl verify -CAfile "$dir/ca.pem" "$dir/server.crt" "$dir/client.crt" >/dev/null
        if openssl verify -crl_check -CAfile "$dir/ca.pem" -CRLfile "$dir/crl.pem" \
                "$dir/revoked-client.crt" >/dev/null 2>&1; then
            echo "pki: revoked-client.crt still verifies against the CRL" >&2
            exit 1
        fi
    )
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    [[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
    make_pki "$1"
    echo "$1"
fi
