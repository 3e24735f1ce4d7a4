#!/usr/bin/env bash
# Checks for Go 1.26 (exits 1 saying how to install it), then installs what
# rbee's tests and demo need when it is missing: sshd and ssh
# (openssh-server, openssh-client), git, ip (iproute2), useradd (passwd)
# curl (the demo's completion request), and chromium with a font for the
# status page's browser test, and nft (nftables: the firewall of the ssh
# transport tests' netns hosts), and PostgreSQL (postgresql: the HA tests
# start throwaway clusters with its initdb and pg_ctl).
# As root it uses apt-get; as another user it prints the command to run and
# exits non-zero only if something needed is missing. Quiet when all is there.
set -euo pipefail

declare -A need=(
  [/usr/sbin/sshd]=openssh-server
  [ssh]=openssh-client
  [git]=git
  [ip]=iproute2
  [useradd]=passwd
  [curl]=curl
  [nft]=nftables # firewalls in the ssh transport tests' netns hosts
  [chromium]=chromium # the status page's browser test (headless)
  [/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]=fonts-dejavu-core # text in its screenshots
)

# Go is not a Debian package here (Debian's is older than the 1.26 the
# module needs): say how to get it and stop.
go_version=$(go env GOVERSION 2>/dev/null || true)
if [[ -z $go_version ]]; then
  echo "install-deps: Go is missing: install Go 1.26 or newer (the official linux tarball, unpacked into /usr/local/go)" >&2
  echo "and put it on PATH: export PATH=\$PATH:/usr/local/go/bin; then run this again" >&2
  exit 1
fi
if [[ $(printf '%s\n' go1.26 "$go_version" | sort -V | head -n1) != go1.26 ]]; then
  echo "install-deps: $go_version is too old: install Go 1.26 or newer and put it first on PATH" >&2
  exit 1
fi

missing=()
for bin in "${!need[@]}"; do
  if [[ $bin == /* ]]; then [[ -e $bin ]] && continue
  else command -v "$bin" >/dev/null 2>&1 && continue
  fi
  missing+=("${need[$bin]}")
done
# Debian keeps initdb and pg_ctl off PATH, in /usr/lib/postgresql/<version>/bin.
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Installing openssh-server would start a system sshd: tell package scripts
# not to start services, and undo that afterwards if we did it.
made_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  made_policy=1
fi
trap '[[ $made_policy -eq 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
