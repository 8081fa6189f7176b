"""Server-rendered pages (to be filled in)."""

urlpatterns: list = []
