"""Incoming integrations: vendor-compatible APIs, one thin module per vendor on ``integrations.base``.

(Outgoing webhooks are the ``webhooks`` app.)
"""
