#!/usr/bin/env bash
# Write the secrets of a Kubernetes overlay, with fresh values.
#
#   deploy/kubernetes/gen-secrets.sh OVERLAY ADMIN_EMAIL
#   deploy/kubernetes/gen-secrets.sh deploy/kubernetes/overlays/production admin@example.com
#
# Writes OVERLAY/secrets/ (mode 700, its files 600; ignored by git), which the
# overlay's secretGenerator reads: the two Ed25519 signing keys, the first
# admin (ADMIN_EMAIL and a random password, printed once), the portal's
# session key, the RabbitMQ account and each service's MongoDB password. The
# same values deploy/gen-env.sh makes for Docker Compose. Never overwrites:
# an existing secrets/ holds the secrets the running system uses. Needs
# openssl (1.1.1 or later).
set -euo pipefail

overlay=${1:?usage: deploy/kubernetes/gen-secrets.sh OVERLAY ADMIN_EMAIL}
admin_email=${2:?usage: deploy/kubernetes/gen-secrets.sh OVERLAY ADMIN_EMAIL}
out=$overlay/secrets

if [[ ! -f $overlay/kustomization.yaml ]]; then
    echo "error: $overlay is not an overlay (no kustomization.yaml)" >&2
    exit 1
fi
if [[ -e $out ]]; then
    echo "error: $out exists; move it away first (it holds the current secrets)" >&2
    exit 1
fi

umask 077
tmp=$(mktemp -d "$overlay/.secrets.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# printf without a newline: a file's whole content is the value.
openssl genpkey -algorithm ed25519 -out "$tmp/clientes-jwt-private-key.pem"
openssl genpkey -algorithm ed25519 -out "$tmp/empleados-jwt-private-key.pem"
admin_password="Adm1n-$(openssl rand -hex 12)"
printf '%s' "$admin_email" > "$tmp/admin-email"
printf '%s' "$admin_password" > "$tmp/admin-password"
printf '%s' "$(openssl rand -hex 32)" > "$tmp/portal-secret-key"
rabbit=$(openssl rand -hex 24)
printf '%s' "$rabbit" > "$tmp/rabbitmq-password"
printf 'default_user = incidencias\ndefault_pass = %s\n' "$rabbit" > "$tmp/rabbitmq-default-user.conf"
for database in clientes empleados apertura resolucion; do
    printf '%s' "$(openssl rand -hex 24)" > "$tmp/mongo-$database-password"
done

mv "$tmp" "$out"
trap - EXIT
echo "wrote $out (mode 700)"
echo "first admin: $admin_email / $admin_password"
