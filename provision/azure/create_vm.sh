#!/usr/bin/env bash
# Create the Azure VM that provision/site.yml turns into an Incidencias
# server, and write an Ansible inventory for it.
#
#   az login
#   provision/azure/create_vm.sh                     # the defaults below
#   AZ_LOCATION=northeurope AZ_SIZE=Standard_B2ms provision/azure/create_vm.sh
#
# Every setting is an environment variable:
#   AZ_RESOURCE_GROUP  resource group, created if missing   (incidencias-rg)
#   AZ_LOCATION        region                               (westeurope)
#   AZ_VM_NAME         VM name                              (incidencias-vm)
#   AZ_SIZE            VM size (2 vCPU, 4 GiB at least)     (Standard_B2s)
#   AZ_IMAGE           image URN or alias                   (Canonical:ubuntu-24_04-lts:server:latest)
#                      also: Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest
#                            Debian:debian-12:12-gen2:latest
#   AZ_ADMIN_USER      the sudo account Ansible logs in as  (azureuser)
#   AZ_SSH_KEY         public key file                      (~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub)
#   AZ_OS_DISK_GB      OS disk size in GB                   (32)
#   AZ_OPEN_HTTPS      also open port 443 (true/false)      (true)
#   INVENTORY          inventory file to write              (provision/inventory.yml)
#
# The network security group lets in SSH (22) and HTTP (80, and 443 when
# AZ_OPEN_HTTPS=true) only: RabbitMQ, MongoDB and the services' own ports
# listen on loopback on the VM and are never opened.
#
# Ubuntu 18.04 (the original project's image, Canonical:UbuntuServer:18.04-LTS:latest)
# is past its end of life and ships Python 3.6: the playbook refuses it (see
# docs/deploy.md). Running this script twice reuses what already exists.
set -euo pipefail

: "${AZ_RESOURCE_GROUP:=incidencias-rg}"
: "${AZ_LOCATION:=westeurope}"
: "${AZ_VM_NAME:=incidencias-vm}"
: "${AZ_SIZE:=Standard_B2s}"
: "${AZ_IMAGE:=Canonical:ubuntu-24_04-lts:server:latest}"
: "${AZ_ADMIN_USER:=azureuser}"
: "${AZ_OS_DISK_GB:=32}"
: "${AZ_OPEN_HTTPS:=true}"
here=$(cd "$(dirname "$0")" && pwd)
: "${INVENTORY:=$here/../inventory.yml}"

if [[ -z ${AZ_SSH_KEY:-} ]]; then
    for candidate in ~/.ssh/id_ed25519.pub ~/.ssh/id_rsa.pub; do
        if [[ -f $candidate ]]; then
            AZ_SSH_KEY=$candidate
            break
        fi
    done
fi
if [[ -z ${AZ_SSH_KEY:-} || ! -f $AZ_SSH_KEY ]]; then
    echo "error: no SSH public key; create one (ssh-keygen -t ed25519) or set AZ_SSH_KEY" >&2
    exit 1
fi
if ! command -v az >/dev/null; then
    echo "error: the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli" >&2
    exit 1
fi
if ! az account show --output none 2>/dev/null; then
    echo "error: not logged in to Azure; run: az login" >&2
    exit 1
fi

echo "resource group $AZ_RESOURCE_GROUP in $AZ_LOCATION"
az group create --name "$AZ_RESOURCE_GROUP" --location "$AZ_LOCATION" --output none

if az vm show --resource-group "$AZ_RESOURCE_GROUP" --name "$AZ_VM_NAME" --output none 2>/dev/null; then
    echo "VM $AZ_VM_NAME exists; keeping it"
else
    echo "creating VM $AZ_VM_NAME ($AZ_SIZE, $AZ_IMAGE)"
    az vm create \
        --resource-group "$AZ_RESOURCE_GROUP" \
        --location "$AZ_LOCATION" \
        --name "$AZ_VM_NAME" \
        --image "$AZ_IMAGE" \
        --size "$AZ_SIZE" \
        --os-disk-size-gb "$AZ_OS_DISK_GB" \
        --admin-username "$AZ_ADMIN_USER" \
        --ssh-key-values "$AZ_SSH_KEY" \
        --authentication-type ssh \
        --public-ip-sku Standard \
        --nsg-rule SSH \
        --output none
fi

# Rule names are unique per NSG; an existing rule is updated in place.
nsg="${AZ_VM_NAME}NSG"
az network nsg rule create --resource-group "$AZ_RESOURCE_GROUP" --nsg-name "$nsg" \
    --name allow-http --priority 1010 --access Allow --protocol Tcp --direction Inbound \
    --destination-port-ranges 80 --output none
if [[ $AZ_OPEN_HTTPS == true ]]; then
    az network nsg rule create --resource-group "$AZ_RESOURCE_GROUP" --nsg-name "$nsg" \
        --name allow-https --priority 1020 --access Allow --protocol Tcp --direction Inbound \
        --destination-port-ranges 443 --output none
fi

ip=$(az vm show --show-details --resource-group "$AZ_RESOURCE_GROUP" --name "$AZ_VM_NAME" \
    --query publicIps --output tsv)

if [[ -e $INVENTORY ]]; then
    echo "$INVENTORY exists; not overwritten. The VM's address is $ip"
else
    cat > "$INVENTORY" <<EOF
---
# Written by provision/azure/create_vm.sh for $AZ_VM_NAME ($AZ_RESOURCE_GROUP).
all:
  children:
    incidencias:
      hosts:
        $AZ_VM_NAME:
          ansible_host: $ip
          ansible_user: $AZ_ADMIN_USER
EOF
    echo "wrote $INVENTORY"
fi

cat <<EOF

VM ready: ssh $AZ_ADMIN_USER@$ip
Next (from provision/):
  ansible-playbook -i $(basename "$INVENTORY") site.yml --ask-vault-pass
  curl http://$ip/api/clientes/salud
EOF
