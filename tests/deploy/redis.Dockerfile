# Test-only stand-in for redis:7-alpine (no registry is reachable from the test engine):
# Debian bookworm's redis-server 7 on the locally made base image, started like the official
# image starts it (redis-entrypoint.sh): working directory /data, no config file, protected mode
# off so the other containers of the compose network may connect. redis-cli is there for the
# compose healthcheck. docker-compose.yml runs it as 999:1000, as it runs the official image.
ARG BASE_IMAGE=dms-admin-test-base:bookworm
FROM ${BASE_IMAGE}
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends redis-server redis-tools; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/*; \
    install -d -m 0755 /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
