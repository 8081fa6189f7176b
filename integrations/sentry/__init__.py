"""Sentry's release API (seeds/sentry-create-release-api.txt and what ``sentry-cli`` calls), at /api/0/.

``urls`` routes, ``views`` translate each call to one service or selector, ``parse`` reads
Sentry's bodies, ``shapes`` renders Sentry's JSON, ``base`` is what Sentry supplies to the
vendor base (credentials, error shape, pages, the organization check).
"""
