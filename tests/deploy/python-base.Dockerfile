# Test-only stand-in for python:3.11-slim-bookworm: Debian bookworm's python3 (3.11) on the
# locally made base image (no registry is reachable from the test engine). The machine's CA
# bundle comes along (host-ca.crt, added by the test) so pip trusts what the host trusts
# (e.g. a TLS-inspecting proxy in front of PyPI); PIP_CERT is inherited by images built on it.
ARG BASE_IMAGE=dms-admin-test-base:bookworm
FROM ${BASE_IMAGE}
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-venv git ca-certificates; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/*
COPY host-ca.crt /usr/local/share/dms-deploy-test/host-ca.crt
ENV PIP_CERT=/usr/local/share/dms-deploy-test/host-ca.crt
