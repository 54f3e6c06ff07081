#!/usr/bin/env bash
# Write a .env for Docker Compose with fresh secrets.
#
#   deploy/gen-env.sh admin@example.com [path/to/.env]
#
# Starts from .env.example, fills in RABBITMQ_PASSWORD, the two Ed25519
# signing keys, ADMIN_EMAIL, a random ADMIN_PASSWORD (printed once) and the
# portal's PORTAL_SECRET_KEY, and never overwrites an existing file. Needs
# openssl (1.1.1 or later).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
admin_email=${1:?usage: deploy/gen-env.sh ADMIN_EMAIL [OUTPUT]}
out=${2:-$root/.env}

if [[ -e $out ]]; then
    echo "error: $out exists; move it away first (it holds the current secrets)" >&2
    exit 1
fi

umask 077
rabbit=$(openssl rand -hex 24)
admin_password="Adm1n-$(openssl rand -hex 12)"
clientes_key=$(openssl genpkey -algorithm ed25519)
empleados_key=$(openssl genpkey -algorithm ed25519)
portal_key=$(openssl rand -hex 32)

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [[ -n $line ]]; do
    case $line in
        RABBITMQ_PASSWORD=) printf 'RABBITMQ_PASSWORD=%s\n' "$rabbit" ;;
        CLIENTES_JWT_PRIVATE_KEY=) printf 'CLIENTES_JWT_PRIVATE_KEY="%s"\n' "$clientes_key" ;;
        EMPLEADOS_JWT_PRIVATE_KEY=) printf 'EMPLEADOS_JWT_PRIVATE_KEY="%s"\n' "$empleados_key" ;;
        ADMIN_EMAIL=) printf 'ADMIN_EMAIL=%s\n' "$admin_email" ;;
        ADMIN_PASSWORD=) printf 'ADMIN_PASSWORD=%s\n' "$admin_password" ;;
        PORTAL_SECRET_KEY=) printf 'PORTAL_SECRET_KEY=%s\n' "$portal_key" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$root/.env.example" > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out (mode 600)"
echo "first admin: $admin_email / $admin_password"
