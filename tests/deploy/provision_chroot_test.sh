#!/usr/bin/env bash
# A real run of provision/site.yml against a Debian 12 root file system,
# through Ansible's chroot connection, twice.
#
#   tests/deploy/provision_chroot_test.sh               run the test (root; re-runs itself with sudo)
#   tests/deploy/provision_chroot_test.sh --is-verified exit 0 when provision/ is unchanged since
#                                                       the last passing run (tests/deploy/provision.verified)
#   tests/deploy/provision_chroot_test.sh --fingerprint print the fingerprint of what the test covers
#
# The root file system comes from debootstrap (Debian's minbase plus systemd
# and python3, as on a cloud image) and is cached as a tarball under
# $INCIDENCIAS_CACHE_DIR (default /var/cache/incidencias-test); every run
# unpacks a fresh copy into tests/deploy/.rootfs. The playbook runs with
# incidencias_manage_services=false (no systemd runs in a chroot: units are
# installed and enabled, nothing is started) and incidencias_install_mongodb=false
# with the services' MONGO_URL pointed elsewhere. Everything else is real:
# apt installs RabbitMQ and nginx, pip fills the virtual environment.
#
# The first run must leave the users, files, units and virtual environment
# checked below; the second must report changed=0. Then the tree is booted
# with systemd-nspawn (PROVISION_TEST_BOOT=0 skips this part) and the
# playbook runs with the services managed: everything starts, a smoke check
# passes through the gateway (the portal's pages and the four APIs), a change
# to one service restarts only that service, and a last run reports changed=0. On success the fingerprint is
# written to tests/deploy/provision.verified.
#
# A failing run keeps what explains it in var/provision-test/: the playbook
# runs' and the web processes' logs, the container's console, its journal
# (journal.txt, and journal/ for journalctl -D) and what systemd said of its
# units (systemctl.txt).
#
# Environment: DEBIAN_MIRROR (default: the Debian mirror of this machine's apt
# sources, else http://deb.debian.org/debian), INCIDENCIAS_CACHE_DIR,
# KEEP_ROOTFS=1 (keep tests/deploy/.rootfs after a passing run; a failing run
# always keeps it), ANSIBLE_PLAYBOOK (default: .venv/bin/ansible-playbook, else PATH),
# PROVISION_BOOT_TIMEOUT (seconds the booted container has to finish starting
# its units, default 300).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
verified_file=$here/provision.verified
rootfs=$here/.rootfs
suite=bookworm
packages=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,openssl

# The fingerprint covers the playbook, its roles and files, the gateway
# configuration it installs, and this script.
fingerprint() {
    (
        cd "$repo"
        git ls-files --cached --others --exclude-standard -- provision deploy/nginx tests/deploy/provision_chroot_test.sh |
            LC_ALL=C sort -u |
            while IFS= read -r file; do
                if [[ -f $file ]]; then
                    printf '%s  %s\n' "$(sha256sum < "$file" | cut -d' ' -f1)" "$file"
                fi
            done | sha256sum | cut -d' ' -f1
    )
}

case ${1:-} in
    --fingerprint)
        fingerprint
        exit 0
        ;;
    --is-verified)
        current=$(fingerprint)
        recorded=$(cat "$verified_file" 2>/dev/null || true)
        if [[ $current == "$recorded" ]]; then
            echo "provision/ unchanged since its last passing chroot run ($current)"
            exit 0
        fi
        echo "provision/ changed since its last passing chroot run (recorded ${recorded:-none}, now $current)"
        exit 1
        ;;
    "") ;;
    *)
        echo "usage: $0 [--fingerprint|--is-verified]" >&2
        exit 2
        ;;
esac

if [[ $EUID -ne 0 ]]; then
    exec sudo --preserve-env bash "$0" "$@"
fi
# A private mount namespace: whatever is mounted below disappears with this
# process, even if it is killed.
if [[ -z ${INCIDENCIAS_PRIVATE_MOUNTS:-} ]]; then
    export INCIDENCIAS_PRIVATE_MOUNTS=1
    exec unshare --mount --propagation private bash "$0" "$@"
fi

started=$SECONDS
log() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# Set as the run goes: its working directory, the container and its init.
work="" nspawn_pid="" leader=""
diagnostics=$repo/var/provision-test
# A command inside the booted container, in all of its namespaces; briefly:
# one that must not hang the run (systemd may not answer).
inside() { nsenter --target "$leader" --mount --uts --ipc --net --pid -- "$@"; }
briefly_inside() { timeout 60 nsenter --target "$leader" --mount --uts --ipc --net --pid -- "$@"; }
stop_container() {
    [[ -n $nspawn_pid ]] || return 0
    if kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid"
        for _ in $(seq 1 120); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    wait "$nspawn_pid" 2>/dev/null || true
}
keep_diagnostics() { # what a failed run leaves for its reader
    [[ -n $work && -d $work ]] || return 0
    rm -rf "$diagnostics"
    mkdir -p "$diagnostics"
    # The logs, never vars.yml: it holds the run's passwords and keys.
    find "$work" -maxdepth 1 -type f \( -name '*.log' -o -name '*.err' \) -exec cp {} "$diagnostics/" \;
    if [[ -n $leader ]] && kill -0 "$leader" 2>/dev/null; then
        {
            echo "## systemctl is-system-running"
            briefly_inside systemctl is-system-running 2>&1 || true
            echo "## systemctl list-jobs"
            briefly_inside systemctl list-jobs --no-pager 2>&1 || true
            echo "## systemctl --failed"
            briefly_inside systemctl --failed --no-pager 2>&1 || true
            echo "## systemctl status"
            briefly_inside systemctl status --no-pager --full --lines=50 rabbitmq-server.service nginx.service \
                'incidencias*' 2>&1 || true
        } > "$diagnostics/systemctl.txt"
        briefly_inside journalctl --no-pager --boot -o short-precise > "$diagnostics/journal.txt" 2>&1 || true
    fi
    if [[ -d $rootfs/var/log/journal ]]; then
        cp -a "$rootfs/var/log/journal" "$diagnostics/journal"
        [[ -s $diagnostics/journal.txt ]] ||
            journalctl --no-pager -D "$diagnostics/journal" -o short-precise > "$diagnostics/journal.txt" 2>&1 || true
    fi
    printf 'what explains it is in %s\n' "${diagnostics#"$repo"/}" >&2
}
on_exit() {
    local status=$?
    ((status == 0)) || keep_diagnostics || true
    stop_container
    umount --recursive --lazy "$rootfs/proc" 2>/dev/null || true
    if [[ -n $work ]]; then rm -rf "$work"; fi
}

playbook=${ANSIBLE_PLAYBOOK:-}
if [[ -z $playbook ]]; then
    if [[ -x $repo/.venv/bin/ansible-playbook ]]; then
        playbook=$repo/.venv/bin/ansible-playbook
    else
        playbook=$(command -v ansible-playbook) || die "ansible-playbook not found (pip install -r provision/requirements.txt)"
    fi
fi
PATH="$(dirname "$playbook"):$PATH"
export PATH

debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE '(https?://[^ ]+/debian)/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

mounted_under() { # is anything mounted at or below $1?
    awk -v root="$1" '$2 == root || index($2, root "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts
}

remove_tree() { # remove a root file system, never through a mount point
    local dir=$1
    [[ -e $dir ]] || return 0
    if mounted_under "$dir"; then
        umount --recursive --lazy "$dir" 2>/dev/null || true
    fi
    mounted_under "$dir" && die "$dir still has mounts; not removing it"
    rm -rf --one-file-system "$dir"
}

# --- 1. The cached Debian 12 root file system -----------------------------------
cache_dir=${INCIDENCIAS_CACHE_DIR:-/var/cache/incidencias-test}
cache_tar=$cache_dir/debian-$suite-$(printf '%s' "$packages" | sha256sum | cut -c1-12).tar
mkdir -p "$cache_dir"
if [[ ! -f $cache_tar ]]; then
    log "building the Debian $suite root file system (cached in $cache_tar)"
    if ! command -v debootstrap >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq debootstrap debian-archive-keyring >/dev/null
    fi
    keyring=()
    if [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
        keyring=(--keyring /usr/share/keyrings/debian-archive-keyring.gpg)
    fi
    build=$(mktemp -d "$cache_dir/build.XXXXXX")
    debootstrap --variant=minbase "${keyring[@]}" --include="$packages" \
        "$suite" "$build/root" "$(debian_mirror)" > "$build/debootstrap.log" 2>&1 ||
        { tail -n 30 "$build/debootstrap.log" >&2; die "debootstrap failed (log: $build/debootstrap.log)"; }
    # Package scripts must not start daemons inside the chroot.
    printf '#!/bin/sh\nexit 101\n' > "$build/root/usr/sbin/policy-rc.d"
    chmod 0755 "$build/root/usr/sbin/policy-rc.d"
    rm -rf "$build/root/var/cache/apt/archives/"*.deb
    tar --numeric-owner --create --file "$cache_tar.tmp" --directory "$build/root" .
    mv "$cache_tar.tmp" "$cache_tar"
    remove_tree "$build/root"
    rm -rf "$build"
fi

# --- 2. A fresh copy, ready for chroot ------------------------------------------------
log "unpacking a fresh root file system into $rootfs"
remove_tree "$rootfs"
mkdir -p "$rootfs"
tar --numeric-owner --extract --file "$cache_tar" --directory "$rootfs"
mount -t proc proc "$rootfs/proc"
trap on_exit EXIT
cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
# Certificate authorities this machine adds to the system store (a TLS proxy
# on the way to the package registries, for one) are trusted inside too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
fi

# --- 3. Inventory and variables of the run ------------------------------------------
work=$(mktemp -d "$here/.provision-run.XXXXXX")
clientes_key=$(openssl genpkey -algorithm ed25519)
empleados_key=$(openssl genpkey -algorithm ed25519)
admin_password="Gestion-$(openssl rand -hex 10)"
amqp_password=$(openssl rand -hex 16)
portal_key=$(openssl rand -hex 32)
indent() { sed 's/^/    /'; }
cat > "$work/vars.yml" <<EOF
---
incidencias_manage_services: false
incidencias_install_mongodb: false
incidencias_mongo_url_base: mongodb://mongo.example.invalid:27017
incidencias_build_dir: $work/build
incidencias_admin_email: admin@example.com
incidencias_admin_password: "$admin_password"
incidencias_amqp_password: "$amqp_password"
incidencias_portal_secret_key: "$portal_key"
incidencias_jwt_private_keys:
  clientes: |
$(indent <<< "$clientes_key")
  empleados: |
$(indent <<< "$empleados_key")
EOF
cat > "$work/inventory.yml" <<EOF
---
all:
  children:
    incidencias:
      hosts:
        debian12-chroot:
          ansible_connection: community.general.chroot
          ansible_host: $rootfs
          ansible_python_interpreter: /usr/bin/python3
          ansible_become: false
EOF

export ANSIBLE_CONFIG=$repo/provision/ansible.cfg
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_STDOUT_CALLBACK=default
export ANSIBLE_LOCAL_TEMP=$work/tmp ANSIBLE_HOME=$work/ansible-home
# Service start-ups in package scripts are refused by policy-rc.d; apt must not ask anything.
export DEBIAN_FRONTEND=noninteractive

run_playbook() { # log file [inventory [more ansible-playbook arguments]]
    local log=$1 inventory=${2:-$work/inventory.yml}
    shift $(($# < 2 ? $# : 2))
    "$playbook" -i "$inventory" "$repo/provision/site.yml" -e "@$work/vars.yml" "$@" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}
expect_no_change() { # log file, host name, what
    local recap
    recap=$(grep -E "^$2 +:" "$1" | tail -n1)
    [[ -n $recap ]] || die "no PLAY RECAP line in $3"
    if [[ ! $recap =~ [[:space:]]changed=0[[:space:]] || ! $recap =~ [[:space:]]failed=0[[:space:]] ]]; then
        grep -E '^(changed|failed|fatal):' -B3 "$1" >&2 || true
        die "$3 is not idempotent: $recap"
    fi
    echo "$3: $recap"
}

# --- 4. First run ----------------------------------------------------------------------
log "first run of provision/site.yml"
first_started=$SECONDS
run_playbook "$work/run1.log" || die "the first run failed (rootfs kept in $rootfs)"
first_took=$((SECONDS - first_started))

# --- 5. What the first run must leave ---------------------------------------------------
log "checking the machine"
failures=0
check() { # description, command...
    local description=$1
    shift
    if "$@" >/dev/null 2>&1; then
        printf '  ok    %s\n' "$description"
    else
        printf '  FAIL  %s\n' "$description"
        failures=$((failures + 1))
    fi
}
in_root() { chroot "$rootfs" "$@"; }
file_is() { # path owner:group mode, names as the chroot's own accounts say
    [[ $(in_root stat -c '%U:%G %a' "$1" 2>/dev/null) == "$2 $3" ]]
}
# shellcheck disable=SC2016 # expanded inside the chroot
env_is() { # env file, variable, expected value: the value as a shell (and systemd) reads it
    [[ "$(in_root bash -c 'set -a; . "$1"; printf "%s" "${!2}"' _ "$1" "$2")" == "$3" ]]
}
installed() { # Debian package
    # shellcheck disable=SC2016 # a dpkg-query format
    [[ $(in_root dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}
system_user() { # name home shell
    local entry
    entry=$(in_root getent passwd "$1") || return 1
    [[ $(cut -d: -f6,7 <<< "$entry") == "$2:$3" && $(cut -d: -f3 <<< "$entry") -lt 1000 ]]
}

services=(clientes incidencias_apertura incidencias_resolucion empleados)
declare -A port=([clientes]=8001 [incidencias_apertura]=8002 [incidencias_resolucion]=8003 [empleados]=8004)

# Accounts
check "group incidencias exists" in_root getent group incidencias
check "user incidencias is a system account without a login shell" \
    system_user incidencias /var/lib/incidencias /usr/sbin/nologin

# Code
current=$(readlink "$rootfs/opt/incidencias/current" || true)
check "/opt/incidencias/current points at an unpacked release" \
    bash -c "[[ '$current' =~ ^/opt/incidencias/releases/[0-9a-f]{16}$ && -d '$rootfs$current' ]]"
check "the release holds the repository's requirements.txt" cmp "$repo/requirements.txt" "$rootfs$current/requirements.txt"
check "the release holds the shared gunicorn configuration" test -f "$rootfs$current/common/gunicorn_config.py"
for package in clientes empleados cuentas incidencias_dominio incidencias_replica incidencias_apertura incidencias_resolucion portal; do
    check "the release holds the package $package" test -f "$rootfs$current/$package/__init__.py"
done
check "the release has no bytecode caches" bash -c "! find '$rootfs$current' -name __pycache__ | grep -q ."
check "the code belongs to root and the service user cannot write it" \
    bash -c "[[ -z \$(find '$rootfs/opt/incidencias' -path '$rootfs/opt/incidencias/venv' -prune -o \\( -not -user 0 -o -perm -o+w -o -perm -g+w \\) -not -type l -print | head -n1) ]]"

# Virtual environment
check "the virtual environment's Python runs" in_root /opt/incidencias/venv/bin/python -c 'import sys; assert sys.version_info >= (3, 11)'
check "every pinned requirement is installed at its version" \
    in_root /opt/incidencias/venv/bin/python - <<'EOF'
import re, sys
from importlib.metadata import version, PackageNotFoundError
missing = []
for line in open("/opt/incidencias/current/requirements.txt"):
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)", line)
    if m:
        try:
            if version(m.group(1)) != m.group(3):
                missing.append(line.strip())
        except PackageNotFoundError:
            missing.append(line.strip())
sys.exit(1 if missing else 0)
EOF
check "gunicorn is in the virtual environment" test -x "$rootfs/opt/incidencias/venv/bin/gunicorn"
check "the four applications and workers, and the portal, import from the release" \
    in_root bash -c 'cd /opt/incidencias/current && /opt/incidencias/venv/bin/python -c "
import importlib
for s in (\"clientes\", \"empleados\", \"incidencias_apertura\", \"incidencias_resolucion\"):
    assert callable(importlib.import_module(s + \".app\").create_app)
    importlib.import_module(s + \".worker\")
assert callable(importlib.import_module(\"portal.app\").create_app)
import common.gunicorn_config
"'

# Configuration and data directories
check "/etc/incidencias is root:incidencias 0750" file_is /etc/incidencias root:incidencias 750
for s in "${services[@]}"; do
    env=/etc/incidencias/$s.env
    check "$s: environment file is root:incidencias 0640" file_is "$env" root:incidencias 640
    check "$s: ENVIRONMENT=production" env_is "$env" ENVIRONMENT production
    check "$s: SERVICE=$s" env_is "$env" SERVICE "$s"
    check "$s: PORT=${port[$s]}" env_is "$env" PORT "${port[$s]}"
    check "$s: MONGO_URL names its own database elsewhere" env_is "$env" MONGO_URL "mongodb://mongo.example.invalid:27017/$s"
    check "$s: AMQP_URL uses the incidencias account on loopback" \
        env_is "$env" AMQP_URL "amqp://incidencias:$amqp_password@127.0.0.1:5672/%2F"
    for dir in "" /data /keys; do
        check "$s: /var/lib/incidencias/$s$dir belongs to the service user, 0700" \
            file_is "/var/lib/incidencias/$s$dir" incidencias:incidencias 700
    done
done
check "clientes: JWT_PRIVATE_KEY is its key, newlines kept" env_is /etc/incidencias/clientes.env JWT_PRIVATE_KEY "$clientes_key"
check "empleados: JWT_PRIVATE_KEY is its key, newlines kept" env_is /etc/incidencias/empleados.env JWT_PRIVATE_KEY "$empleados_key"
check "empleados: ADMIN_EMAIL is set" env_is /etc/incidencias/empleados.env ADMIN_EMAIL admin@example.com
check "empleados: ADMIN_PASSWORD is set" env_is /etc/incidencias/empleados.env ADMIN_PASSWORD "$admin_password"
# The portal: its own environment file, no broker, no database, no signing key.
penv=/etc/incidencias/portal.env
check "portal: environment file is root:incidencias 0640" file_is "$penv" root:incidencias 640
check "portal: ENVIRONMENT=production" env_is "$penv" ENVIRONMENT production
check "portal: PORT=8000" env_is "$penv" PORT 8000
check "portal: PORTAL_SECRET_KEY is its key" env_is "$penv" PORTAL_SECRET_KEY "$portal_key"
check "portal: PORTAL_SECURE_COOKIES=true" env_is "$penv" PORTAL_SECURE_COOKIES true
check "portal: sync gunicorn workers" env_is "$penv" GUNICORN_WORKER_CLASS sync
check "portal: CLIENTES_URL is clientes on loopback" env_is "$penv" CLIENTES_URL http://127.0.0.1:8001
check "portal: APERTURA_URL is incidencias_apertura on loopback" env_is "$penv" APERTURA_URL http://127.0.0.1:8002
check "portal: RESOLUCION_URL is incidencias_resolucion on loopback" env_is "$penv" RESOLUCION_URL http://127.0.0.1:8003
check "portal: EMPLEADOS_URL is empleados on loopback" env_is "$penv" EMPLEADOS_URL http://127.0.0.1:8004
check "portal: no broker, database, signing key or admin password" \
    bash -c "! grep -qE '^(AMQP_URL|MONGO_URL|JWT_PRIVATE_KEY|ADMIN_PASSWORD)=' '$rootfs$penv'"
for dir in "" /data /keys; do
    check "portal: /var/lib/incidencias/portal$dir belongs to the service user, 0700" \
        file_is "/var/lib/incidencias/portal$dir" incidencias:incidencias 700
done
check "only the issuers hold a signing key, only empleados the admin password" \
    bash -c "! grep -qE '^(JWT_PRIVATE_KEY|ADMIN_PASSWORD)=' '$rootfs/etc/incidencias/incidencias_apertura.env' '$rootfs/etc/incidencias/incidencias_resolucion.env' \
        && ! grep -q '^ADMIN_PASSWORD=' '$rootfs/etc/incidencias/clientes.env'"

# systemd units
for unit in incidencias.target incidencias-web@.service incidencias-worker@.service; do
    check "unit $unit installed, root 0644" file_is "/etc/systemd/system/$unit" root:root 644
done
check "incidencias.target is wanted by multi-user.target" test -L "$rootfs/etc/systemd/system/multi-user.target.wants/incidencias.target"
for s in "${services[@]}"; do
    for kind in web worker; do
        check "incidencias-$kind@$s.service is enabled" \
            bash -c "[[ \$(readlink '$rootfs/etc/systemd/system/incidencias.target.wants/incidencias-$kind@$s.service') == /etc/systemd/system/incidencias-$kind@.service ]]"
    done
done
check "incidencias-web@portal.service is enabled" \
    bash -c "[[ \$(readlink '$rootfs/etc/systemd/system/incidencias.target.wants/incidencias-web@portal.service') == /etc/systemd/system/incidencias-web@.service ]]"
check "the portal has no worker unit" test ! -e "$rootfs/etc/systemd/system/incidencias.target.wants/incidencias-worker@portal.service"
check "systemd-analyze verifies the web and worker units" \
    in_root systemd-analyze verify incidencias.target incidencias-web@clientes.service incidencias-worker@clientes.service \
    incidencias-web@portal.service
# shellcheck disable=SC2016 # a literal ${PORT}, expanded by systemd
check "the web unit runs gunicorn on loopback with the shared configuration" \
    grep -qF 'ExecStart=/opt/incidencias/venv/bin/gunicorn --config python:common.gunicorn_config --bind 127.0.0.1:${PORT} "%i.app:create_app()"' \
    "$rootfs/etc/systemd/system/incidencias-web@.service"
check "the worker unit runs python -m <service>.worker" \
    grep -qF 'ExecStart=/opt/incidencias/venv/bin/python -m %i.worker' "$rootfs/etc/systemd/system/incidencias-worker@.service"

# Gateway
check "nginx is installed" installed nginx
check "the gateway routes are deploy/nginx/gateway.conf" cmp "$repo/deploy/nginx/gateway.conf" "$rootfs/etc/nginx/conf.d/incidencias-gateway.conf"
check "the gateway upstreams point at the services and the portal on loopback" \
    bash -c "grep -q 'server 127.0.0.1:8001;' '$rootfs/etc/nginx/conf.d/incidencias-upstreams.conf' && grep -q 'server 127.0.0.1:8004;' '$rootfs/etc/nginx/conf.d/incidencias-upstreams.conf' && grep -q 'server 127.0.0.1:8000;' '$rootfs/etc/nginx/conf.d/incidencias-upstreams.conf'"
check "the default site is gone" test ! -e "$rootfs/etc/nginx/sites-enabled/default"
check "nginx accepts the configuration (nginx -t)" in_root nginx -t
check "nginx is enabled" test -L "$rootfs/etc/systemd/system/multi-user.target.wants/nginx.service"

# RabbitMQ (installed; its account is created only where the broker runs)
check "rabbitmq-server is installed" installed rabbitmq-server
check "RabbitMQ listens on loopback only" grep -qx 'listeners.tcp.1 = 127.0.0.1:5672' "$rootfs/etc/rabbitmq/rabbitmq.conf"
check "the management plugin is enabled" grep -qx '\[rabbitmq_management\].' "$rootfs/etc/rabbitmq/enabled_plugins"
check "rabbitmq-server is enabled" test -L "$rootfs/etc/systemd/system/multi-user.target.wants/rabbitmq-server.service"

# MongoDB was switched off
check "MongoDB was not installed" bash -c "! chroot '$rootfs' dpkg-query -W mongodb-org mongodb-org-server"

# The web unit's command, run by hand the way systemd would run it (the
# service user, the environment file, the release as working directory): each
# service must start in production mode from what the playbook installed.
# Its MongoDB does not exist here, so it keeps its data in SQLite in its data
# directory; its RabbitMQ account does not exist either, so it is alive
# (/salud/vivo 200) and not ready (/salud 503). The portal starts the same
# way (incidencias-web@portal); it is asked as nginx would ask it over TLS
# (X-Forwarded-Proto: https), and its /salud answers whether it reaches the
# services.
http_status() { # url [forwarded proto] -> HTTP status, 000 when nothing answers
    python3 - "$1" "${2:-}" <<'PYTHON'
import sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1])
if sys.argv[2]:
    request.add_header("X-Forwarded-Proto", sys.argv[2])
try:
    print(urllib.request.urlopen(request, timeout=2).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("000")
PYTHON
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
service_uid=$(in_root id -u incidencias)
service_gid=$(in_root id -g incidencias)
exec_start=$(sed -n 's/^ExecStart=//p' "$rootfs/etc/systemd/system/incidencias-web@.service")
for s in "${services[@]}" portal; do
    proto=""
    [[ $s == portal ]] && proto=https
    web_port=$(free_port)
    web_command=${exec_start//%i/$s}
    # shellcheck disable=SC2016 # the unit's literal ${PORT}
    web_command=${web_command//'${PORT}'/$web_port}
    install -d -o "$service_uid" -g "$service_gid" -m 0700 "$rootfs/run/incidencias-web-$s"
    # shellcheck disable=SC2016 # expanded by the shell inside the chroot
    setsid chroot --userspec="$service_uid:$service_gid" "$rootfs" env -i PATH=/usr/bin:/bin bash -c \
        'set -a; . "$1"; set +a; unset MONGO_URL; export PROMETHEUS_MULTIPROC_DIR=$2; cd /opt/incidencias/current && exec '"$web_command" \
        _ "/etc/incidencias/$s.env" "/run/incidencias-web-$s" > "$work/web-$s.log" 2>&1 &
    web_pid=$!
    alive=000
    for _ in $(seq 1 150); do
        kill -0 "$web_pid" 2>/dev/null || break
        alive=$(http_status "http://127.0.0.1:$web_port/salud/vivo" "$proto")
        [[ $alive == 200 ]] && break
        sleep 0.2
    done
    ready=$(http_status "http://127.0.0.1:$web_port/salud" "$proto")
    kill -TERM -- "-$web_pid" 2>/dev/null || true
    wait "$web_pid" 2>/dev/null || true
    check "$s: the web unit's command starts it as the service user, in production mode (/salud/vivo $alive)" \
        test "$alive" = 200
    if [[ $s == portal ]]; then
        check "portal: its readiness answers (/salud $ready)" bash -c "[[ '$ready' == 200 || '$ready' == 503 ]]"
    else
        check "$s: without its broker it reports not ready (/salud $ready)" test "$ready" = 503
        check "$s: its SQLite data went to its own data directory" \
            bash -c "ls '$rootfs/var/lib/incidencias/$s/data/' | grep -q sqlite"
    fi
    if [[ $alive != 200 ]]; then
        tail -n 20 "$work/web-$s.log" >&2
    fi
done

# Nothing runs inside the chroot
check "no process was left running inside the root file system" \
    bash -c "for p in /proc/[0-9]*; do [[ \$(readlink \$p/root 2>/dev/null) == '$rootfs' ]] && exit 1; done; exit 0"

[[ $failures -eq 0 ]] || die "$failures check(s) failed after the first run (rootfs kept in $rootfs)"

# --- 6. Second run: nothing to change -------------------------------------------------
log "second run: it must change nothing"
second_started=$SECONDS
run_playbook "$work/run2.log" || die "the second run failed"
second_took=$((SECONDS - second_started))
expect_no_change "$work/run2.log" debian12-chroot "the second run"

# --- 7. Boot it: systemd starts everything; the playbook manages live services ---------
# systemd-nspawn boots the provisioned tree as a container with a network of
# its own (loopback only: its RabbitMQ and nginx meet no port of this machine).
# Ansible reaches it through the same chroot connection, its commands wrapped
# in nsenter. With the services managed, the RabbitMQ account is created, the
# units restart where their files changed, a smoke check loads the portal's
# pages and walks an incident through nginx, RabbitMQ and the four services,
# a change to one service
# restarts that service only, and a last run changes nothing. Storage: SQLite
# in each service's data directory (there is no MongoDB here).
boot_took=skipped
if [[ ${PROVISION_TEST_BOOT:-1} == 1 ]]; then
    log "booting the provisioned system with systemd-nspawn"
    boot_started=$SECONDS
    if ! command -v systemd-nspawn >/dev/null; then
        apt-get install -y -qq systemd-container >/dev/null
    fi
    umount --recursive --lazy "$rootfs/proc" 2>/dev/null || true
    # A persistent journal: it stays in the tree for a failing run to keep.
    mkdir -p "$rootfs/var/log/journal"
    systemd-nspawn --quiet --register=no --keep-unit --private-network --directory="$rootfs" --boot \
        > "$work/boot.log" 2>&1 &
    nspawn_pid=$!

    # The container's init. systemd-nspawn's first child is a short-lived
    # helper that sets up the mounts and clones init into the new namespaces,
    # then exits (nspawn, a subreaper, adopts init): taken for the container,
    # it answers nothing once gone. Init is the child in a PID namespace of its own.
    container_init() {
        local pid namespace
        for pid in $(ps --ppid "$nspawn_pid" -o pid=); do
            namespace=$(readlink "/proc/$pid/ns/pid" 2>/dev/null) || continue # gone meanwhile
            if [[ $namespace != "$(readlink /proc/self/ns/pid)" ]]; then
                echo "$pid"
                return 0
            fi
        done
        return 1
    }
    for _ in $(seq 1 300); do
        if ! kill -0 "$nspawn_pid" 2>/dev/null; then
            cat "$work/boot.log" >&2
            die "systemd-nspawn could not boot the root file system"
        fi
        leader=$(container_init) && break
        sleep 0.2
    done
    [[ -n $leader ]] || die "no init process in the container after 60 s"

    # Until systemd has started every unit, within PROVISION_BOOT_TIMEOUT:
    # "initializing" and "starting" mean units still start (RabbitMQ takes long
    # on a busy machine); an empty answer, that systemd does not answer yet (the
    # reason, on stderr, goes to is-system-running.err); "maintenance",
    # "stopping" or "offline" will not get better.
    boot_timeout=${PROVISION_BOOT_TIMEOUT:-300}
    state=""
    while ((SECONDS - boot_started < boot_timeout)); do
        kill -0 "$nspawn_pid" 2>/dev/null || die "the container stopped while booting"
        state=$(briefly_inside systemctl is-system-running 2> "$work/is-system-running.err" || true)
        case $state in
            running | degraded | maintenance | stopping | offline) break ;;
        esac
        sleep 0.5
    done
    if [[ $state != running && $state != degraded ]]; then
        tail -n 40 "$work/boot.log" >&2
        if [[ -n $state ]]; then
            die "the container did not finish booting within ${boot_timeout} s: systemd says $state"
        fi
        die "the container did not finish booting within ${boot_timeout} s: systemd did not answer ($(tail -n1 "$work/is-system-running.err"))"
    fi
    echo "booted: $state"

    printf '#!/bin/sh\n# Called by the chroot connection as: nsenter-chroot ROOT EXECUTABLE -c COMMAND\nshift\nexec nsenter --target %s --mount --uts --ipc --net --pid -- "$@"\n' \
        "$leader" > "$work/nsenter-chroot"
    chmod 0755 "$work/nsenter-chroot"
    printf -- '---\nall:\n  children:\n    incidencias:\n      hosts:\n        debian12-booted:\n          ansible_connection: community.general.chroot\n          ansible_host: %s\n          ansible_chroot_exe: %s\n          ansible_python_interpreter: /usr/bin/python3\n          ansible_become: false\n' \
        "$rootfs" "$work/nsenter-chroot" > "$work/booted.yml"
    managed=(-e incidencias_manage_services=true -e '{"incidencias_mongo_url_base": ""}')

    log "third run: the services managed by systemd"
    run_playbook "$work/run3.log" "$work/booted.yml" "${managed[@]}" || die "the run against the booted system failed"

    log "checking the running system"
    for unit in rabbitmq-server.service nginx.service incidencias.target; do
        check "$unit is active" inside systemctl is-active --quiet "$unit"
    done
    for s in "${services[@]}"; do
        for kind in web worker; do
            check "incidencias-$kind@$s is active" inside systemctl is-active --quiet "incidencias-$kind@$s.service"
        done
    done
    check "incidencias-web@portal is active" inside systemctl is-active --quiet incidencias-web@portal.service
    users=$(inside rabbitmqctl -q list_users 2>/dev/null | awk 'NR > 1 || $1 != "user" {print $1}' | sort | tr '\n' ' ')
    check "RabbitMQ has the incidencias account and no guest ($users)" test "$users" = "incidencias "
    # shellcheck disable=SC2016 # awk's own fields
    listening=$(inside ss -Hltn | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | sort -u | tr '\n' ' ')
    check "beyond loopback only nginx (80) and Erlang's distribution listen ($listening)" \
        bash -c "[[ -z \$(tr ' ' '\n' <<< '$listening' | grep -vE ':(80|4369|25672)$' | grep .) ]]"
    if inside python3 - http://127.0.0.1 --admin-email admin@example.com --admin-password "$admin_password" \
        --wait 90 < "$here/smoke.py" > "$work/smoke.log" 2>&1; then
        printf '  ok    smoke check through the gateway (%s)\n' "$(tail -n1 "$work/smoke.log")"
    else
        cat "$work/smoke.log"
        printf '  FAIL  smoke check through the gateway\n'
        failures=$((failures + 1))
    fi
    [[ $failures -eq 0 ]] || die "$failures check(s) failed on the booted system (rootfs kept in $rootfs)"

    log "fourth run: one setting of incidencias_apertura changes; only its units restart"
    since() { inside systemctl show --property=ActiveEnterTimestampMonotonic --value "$1"; }
    before_clientes=$(since incidencias-web@clientes.service)
    before_apertura=$(since incidencias-web@incidencias_apertura.service)
    run_playbook "$work/run4.log" "$work/booted.yml" "${managed[@]}" -e incidencias_autocierre_dias=3 ||
        die "the fourth run failed"
    restarted=$(sed -n '/RUNNING HANDLER \[incidencias : Restart the changed incidencias units\]/,/^$/p' "$work/run4.log" |
        grep -oE 'item=incidencias-[a-z]+@[a-z_]+\.service' | sed 's/item=//' | sort | tr '\n' ' ')
    check "the handler restarted apertura's web and worker only ($restarted)" \
        test "$restarted" = "incidencias-web@incidencias_apertura.service incidencias-worker@incidencias_apertura.service "
    check "clientes kept running" test "$(since incidencias-web@clientes.service)" = "$before_clientes"
    check "incidencias_apertura was restarted" test "$(since incidencias-web@incidencias_apertura.service)" != "$before_apertura"
    check "incidencias_apertura's environment has the new setting" \
        inside grep -qx 'AUTOCIERRE_DIAS=3' /etc/incidencias/incidencias_apertura.env
    [[ $failures -eq 0 ]] || die "$failures check(s) failed on the booted system (rootfs kept in $rootfs)"

    log "fifth run: with live services, nothing to change"
    run_playbook "$work/run5.log" "$work/booted.yml" "${managed[@]}" -e incidencias_autocierre_dias=3 ||
        die "the fifth run failed"
    expect_no_change "$work/run5.log" debian12-booted "the fifth run"

    stop_container
    boot_took=$((SECONDS - boot_started))s
fi

fingerprint > "$verified_file"
if [[ ${KEEP_ROOTFS:-0} != 1 ]]; then
    umount --recursive --lazy "$rootfs/proc" 2>/dev/null || true
    remove_tree "$rootfs"
fi
log "PASS in $((SECONDS - started)) s (first run ${first_took} s, second run ${second_took} s, booted system ${boot_took}); fingerprint $(cat "$verified_file") written to ${verified_file#"$repo"/}"
