"""Saved charts (setting ``charts``): one full-table stream per chart, named by the user, from
``GET /api/3/chart/:chart_id/csv`` (:mod:`tap_amplitude.chart_table` reads the answer).

The columns come from the chart's own output: the chart is read when its schema is first needed
(discovery, or the start of a run) and that answer is the run's records, so a run asks once. Each
row carries ``chart_id`` and the days the chart covers (``range_start``, ``range_end``). A chart
that was deleted or that the key cannot read fails with the chart's name and id. Each read pays
1 from the run's Dashboard REST budget (the cost of a chart is not documented: "For all
endpoints not listed here, the cost is 1").
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec
import requests
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_amplitude.api import ApiPath
from tap_amplitude.chart_table import ChartTable, ChartTableError, parse_chart
from tap_amplitude.errors import AmplitudeAPIError
from tap_amplitude.query_pacing import pay
from tap_amplitude.streams.base import AmplitudeStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import RequestFunc

    from tap_amplitude.settings import SavedChart
    from tap_amplitude.tap import TapAmplitude

_TYPES = {
    "integer": {"type": ["integer", "null"], "description": "A column of the chart"},
    "number": {"type": ["number", "null"], "description": "A column of the chart"},
    "date": {"type": ["string", "null"], "format": "date", "description": "A column of the chart"},
    "string": {"type": ["string", "null"], "description": "A column of the chart"},
}
_PLACEHOLDER: dict[str, Any] = {"type": "object", "properties": {}}


class ChartStream(AmplitudeStream):
    """The rows of one saved chart."""

    replication_key = None
    decodes_json = False  # the answer may be the CSV text itself

    def __init__(self, tap: TapAmplitude, chart: SavedChart) -> None:
        self.name = chart.name
        self.chart = chart
        self.path = f"/api/3/chart/{quote(chart.chart_id, safe='')}/csv"
        super().__init__(tap, schema=_PLACEHOLDER)

    @property
    def api_path(self) -> ApiPath:
        """The chart endpoint (the response table keys on it)."""
        return ApiPath.CHART_CSV

    @cached_property
    def table(self) -> ChartTable:
        """The chart's answer, read once per run."""
        try:
            responses = list(self.request_records(None))
        except AmplitudeAPIError as exc:
            msg = (
                f"Chart {self.name!r} (chart_id {self.chart.chart_id!r}) cannot be read: {exc}. "
                "Check that the chart exists (its id is in its URL) and belongs to the "
                "project of `api_key`, or remove it from the setting `charts`."
            )
            raise AmplitudeAPIError(msg, status=exc.status) from None
        try:
            return parse_chart(responses[0]["body"])
        except (ChartTableError, IndexError) as exc:
            msg = f"Chart {self.name!r} (chart_id {self.chart.chart_id!r}): {exc}"
            raise AmplitudeAPIError(msg) from None

    @property
    @override
    def schema(self) -> dict[str, Any]:
        """chart_id, the covered days and the chart's own columns."""
        table = self.table
        properties: dict[str, Any] = {
            "chart_id": {"type": ["string"], "description": "The chart's id"},
            "range_start": {**_TYPES["date"], "description": "First day the chart covers"},
            "range_end": {**_TYPES["date"], "description": "Last day the chart covers"},
        }
        for name, kind in table.columns.items():
            properties[name] = _TYPES[kind]
        return {"type": "object", "properties": properties}

    @property  # type: ignore[override]
    @override
    def primary_keys(self) -> tuple[str, ...]:
        """chart_id and the columns that name a row (labels, the date)."""
        return ("chart_id", *self.table.keys)

    @primary_keys.setter
    def primary_keys(self, value: Any) -> None:
        """The keys follow from the chart's output (the SDK's catalog may set them)."""

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Each attempt pays 1 from the run's cost budgets first."""
        budgets = self._amplitude_tap.dashboard_budgets

        def paced(*args: Any, **kwargs: Any) -> requests.Response:
            pay(budgets, 1, self.logger, f"chart {self.name}")
            return func(*args, **kwargs)

        return super().request_decorator(paced)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The decoded answer (JSON, or the CSV text) as one item."""
        try:
            body: Any = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = response.text
        yield {"body": body}

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The chart's rows, with chart_id and range."""
        table = self.table
        for row in table.rows:
            yield {
                "chart_id": self.chart.chart_id,
                "range_start": table.range_start,
                "range_end": table.range_end,
                **row,
            }
