#!/bin/sh
# deploy/gen-certs.sh DIR [NODES] [BROKERS] [NAME...] - a CA and
# certificates for a local Synod cluster (docs/security.md), with openssl.
#
# Writes into DIR (created; existing files are kept, so running it again
# adds what is missing without replacing the CA):
#   ca.pem, ca.key                   the cluster CA (keep ca.key offline in
#                                    production)
#   node-N.pem, node-N.key           node N's certificate, CN synod-node-N,
#                                    SAN 127.0.0.1 and localhost (N = 1..NODES,
#                                    default 5)
#   broker-N.pem, broker-N.key       CN broker-N (N = 1..BROKERS, default 3)
#   admin.pem, admin.key             CN admin (an admin identity: list it
#                                    in the nodes' super_users)
#   NAME.pem, NAME.key               CN NAME, for each NAME given (client
#                                    identities to grant roles to)
# Keys are EC P-256, certificates valid 825 days. Key files are mode 0600.
set -eu

dir=${1:?usage: gen-certs.sh DIR [NODES] [BROKERS] [NAME...]}
nodes=${2:-5}
brokers=${3:-3}
shift $(($# < 3 ? $# : 3))
days=825
command -v openssl >/dev/null || {
	echo "gen-certs: openssl not found (apt-get install openssl)" >&2
	exit 1
}
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ]; then
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "$days" \
		-subj "/O=Synod/CN=synod-ca" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	chmod 644 "$dir/ca.pem"
fi

# issue NAME CN SAN EKU
issue() {
	[ -f "$dir/$1.pem" ] && return 0
	ext=$(mktemp)
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$4"
		[ -n "$3" ] && echo "subjectAltName=$3"
	} >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "/O=Synod/CN=$2" \
		2>/dev/null
	openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -out "$dir/$1.pem" \
		-days "$days" -extfile "$ext" 2>/dev/null
	rm -f "$dir/$1.csr" "$ext"
	chmod 644 "$dir/$1.pem"
}

i=1
while [ "$i" -le "$nodes" ]; do
	issue "node-$i" "synod-node-$i" "IP:127.0.0.1,DNS:localhost" \
		"serverAuth,clientAuth"
	i=$((i + 1))
done
i=1
while [ "$i" -le "$brokers" ]; do
	issue "broker-$i" "broker-$i" "" "clientAuth"
	i=$((i + 1))
done
issue admin admin "" clientAuth
for name in "$@"; do
	case "$name" in
	*[!A-Za-z0-9._-]* | "") echo "gen-certs: bad name '$name'" >&2; exit 2 ;;
	esac
	issue "$name" "$name" "" clientAuth
done
echo "gen-certs: CA and certificates in $dir"
