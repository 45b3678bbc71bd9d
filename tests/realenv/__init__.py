"""Real components for the test suite: redis-server, dockerd and a DMS-like mail image.

Nothing in here is a mock: ``redis_server`` runs Debian's ``redis-server``,
``dockerd`` runs (or reuses) a real Docker engine, and ``mailimage`` builds an
image with real Postfix, Dovecot and SpamAssassin laid out like
docker-mailserver v15.  ``fixtures`` exposes them as pytest fixtures.
"""
