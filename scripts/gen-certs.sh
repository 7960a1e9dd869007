#!/usr/bin/env bash
# Regenerates local-node-ipc-certs/: self-signed X.509 v3 development certificates in
# node-ipc's layout. Self-signed leaves (CA:FALSE, no keyUsage) because the examples trust
# the peer's own certificate file; rustls rejects a CA certificate used as a leaf, and
# OpenSSL will not treat a leaf whose keyUsage lacks keyCertSign as its own issuer.
# These keys are public: for local testing only.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/local-node-ipc-certs"
mkdir -p "$dir/private"
days=${DAYS:-3650}

make_pair() { # name cn
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -keyout "$dir/private/$1.key" -out "$dir/$1.pub" -subj "/CN=$2/O=node-ipc-rs development $1" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
}

make_pair server localhost
make_pair client localhost
# Accepted for compatibility; rustls negotiates (EC)DHE and never reads it.
openssl dhparam -dsaparam -out "$dir/private/dhparam.pem" 2048 2>/dev/null
echo "wrote $dir"
