"""CSV downloads, streamed: the API lists (``?format=csv``) and the pages' "Download CSV" links.

Rows are written as they are read (a queryset iterated in chunks), so a download of a long
history holds one chunk in memory, not the whole list. A download stops after ``CSV_MAX_ROWS``
rows and says so in a header; the date filters reach anything further back.
"""

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import chain

from django.http import StreamingHttpResponse

CSV_MAX_ROWS = 100_000
CSV_CHUNK = 1_000
CAPPED_HEADER = "X-Rows-Capped"

# A cell a spreadsheet would run as a formula is written with a leading apostrophe (the usual
# defence against CSV injection): a version or title comes from whoever holds a write token.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() hands back the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(csv_cell(item) for item in value)
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence], capped: bool = False
) -> StreamingHttpResponse:
    """A streamed ``text/csv`` attachment; ``capped`` says more rows matched than were written."""
    # A byte-order mark first, so spreadsheet programs read the file as UTF-8.
    response = StreamingHttpResponse(chain(["\ufeff"], csv_lines(header, rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    if capped:
        response[CAPPED_HEADER] = f"only the first {CSV_MAX_ROWS} rows: narrow the dates for the rest"
    return response


def serializer_csv_response(queryset, serializer_class, *, filename: str, context: dict | None = None):
    """Stream an ordered queryset as CSV, a column per field of ``serializer_class`` (flat fields)."""
    names = list(serializer_class().fields)

    def row(item) -> list:
        data = serializer_class(item, context=context or {}).data
        return [data[name] for name in names]

    return queryset_csv_response(queryset, filename=filename, header=names, row=row)


def wants_csv(request) -> bool:
    """A page asked for its CSV download (``?format=csv``, the pages' "Download CSV" links)."""
    return request.GET.get("format") == "csv"


def queryset_csv_response(
    queryset, *, filename: str, header: Sequence[str], row: Callable, max_rows: int = CSV_MAX_ROWS
) -> StreamingHttpResponse:
    """Stream an ordered queryset as CSV: ``row(item)`` gives each item's cells, in ``header``'s order."""
    capped = queryset[max_rows : max_rows + 1].exists()
    rows = (row(item) for item in queryset[:max_rows].iterator(chunk_size=CSV_CHUNK))
    return csv_response(filename=filename, header=header, rows=rows, capped=capped)
