"""Vendor wire formats: one thin module per vendor, translating to the shared services."""
