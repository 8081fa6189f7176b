"""github compatibility: to be filled in. Exposes `urlpatterns`, mounted in releasetracker/urls.py."""

urlpatterns: list = []
