#!/usr/bin/env bash
# A real Docker engine for the docker-backend test, with no registry:
#   .ci/docker-engine.sh start   install docker.io + debootstrap, start dockerd (no bridge, no
#                                iptables, data under $STATE), build the CPU base image with
#                                debootstrap + `docker import`, the wheelhouse on the host, and
#                                the infer image's CPU variant from docker/Dockerfile
#   .ci/docker-engine.sh stop    stop dockerd by its PID
# Prints `export DOCKER_HOST=...` on success. Run from the repository root.
set -euo pipefail

STATE=${XNAT_MONAI_DOCKER_STATE:-/tmp/xnat-monai-docker}
SOCK="$STATE/docker.sock"
PIDFILE="$STATE/dockerd.pid"
BASE_IMAGE=xnat-monai/cpu-base:bookworm
WHEELHOUSE=docker/wheelhouse
export DOCKER_HOST="unix://$SOCK"

log() { printf '[docker-engine] %s\n' "$*" >&2; }

install_tools() {
    if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then return; fi
    log "installing docker.io and debootstrap from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
}

start_dockerd() {
    mkdir -p "$STATE"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        log "dockerd already running (pid $(cat "$PIDFILE"))"
        return
    fi
    log "starting dockerd (data under $STATE)"
    # No bridge and no iptables: containers use the host's network (loopback only here).
    nohup dockerd --bridge=none --iptables=false \
        --data-root "$STATE/root" --exec-root "$STATE/exec" \
        -H "$DOCKER_HOST" --pidfile "$PIDFILE" >"$STATE/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    log "dockerd did not start; its log ends with:"
    tail -n 20 "$STATE/dockerd.log" >&2
    exit 1
}

build_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
    log "building $BASE_IMAGE with debootstrap (Debian bookworm, Python 3.11)"
    local rootfs="$STATE/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,libgomp1,ca-certificates \
        bookworm "$rootfs" http://deb.debian.org/debian >"$STATE/debootstrap.log" 2>&1 \
        || { tail -n 20 "$STATE/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/*
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

build_wheelhouse() {
    # Containers cannot reach a package index here: every wheel comes from the host.
    log "downloading wheels for the image into $WHEELHOUSE"
    mkdir -p "$WHEELHOUSE"
    .venv/bin/python -m pip download --quiet --dest "$WHEELHOUSE" "torch==2.13.0" setuptools wheel
    .venv/bin/python -m pip download --quiet --dest "$WHEELHOUSE" ".[steps]"
}

build_infer_image() {
    log "building the infer image's CPU variant"
    .venv/bin/xnat-monai images build --cpu --step infer \
        --base-image "$BASE_IMAGE" --wheelhouse "$WHEELHOUSE"
}

case "${1:-}" in
    start)
        install_tools
        start_dockerd
        build_base_image
        build_wheelhouse
        build_infer_image
        echo "export DOCKER_HOST=$DOCKER_HOST"
        ;;
    stop)
        if [ -f "$PIDFILE" ]; then
            pid=$(cat "$PIDFILE")
            log "stopping dockerd (pid $pid)"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        fi
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
