from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first, stable under inserts: the cursor is the creation time plus the primary key."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # DRF falls back to the default size for a page_size it cannot read; a client that asked
        # for one is told instead, as for any other bad parameter.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and raw.strip() != "":
            try:
                size = int(raw)
            except ValueError:
                size = 0
            if size < 1:
                raise ValidationError({self.page_size_query_param: ["must be a whole number from 1 to 200"]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"items per page, from 1; more than {self.max_page_size} is served as {self.max_page_size}"
                )
        return parameters

    def decode_cursor(self, request):
        # DRF answers a garbled cursor with 404 "Invalid cursor", as if the list were missing;
        # it is bad input, so a 400 naming the parameter.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["is not a cursor this API gave out; use the next/previous links as given"]}
            ) from None
