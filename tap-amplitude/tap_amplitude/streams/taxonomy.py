"""The taxonomy streams: the project's tracking plan from the Taxonomy API (full table).

Bodies are ``{"success": true, "data": [...]}`` (Taxonomy API docs). Hidden event types and user
properties are never returned by the API ("Hidden events, those that have a visibility other than
Visible, don't appear in the response"), so they cannot be extracted. Deleted ones are returned
with ``showDeleted=true``: user properties carry a ``deleted`` field; event types do not, so the
tap reads the list with and without deleted ones and sets ``deleted`` itself. Event properties
are listed per event type (plus the shared ones, ``event_type`` ""), group properties all at
once. Every request is paced by the run's :class:`tap_amplitude.pacing.CostBudget`; 404 means the
plan has no Taxonomy API (Enterprise only): the stream is skipped with a warning.

``event_type`` (``/event-property``) and ``group_type`` (``/group-property``) travel as the docs
show them, a form-encoded body of the GET ("Get event properties": ``--header 'Content-Type:
application/x-www-form-urlencoded' --data-urlencode 'event_type=EVENT_NAME'``, "Body
parameters"), and also as the query parameter third-party clients use, so either reading works.
The answer is then checked, not trusted: every item of a per-event-type answer must carry that
event type (:func:`check_scoped_items`); one that does not means the server ignored the
parameter, and the stream fails rather than file the shared properties under the wrong name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_amplitude.api import ApiPath
from tap_amplitude.errors import AmplitudeAPIError, ItemGoneError
from tap_amplitude.responses import Action, Rule
from tap_amplitude.streams.base import AmplitudeStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import RequestFunc

# The parameters the docs send in a form body of the GET (Taxonomy API, "Body parameters").
BODY_PARAMETERS = frozenset({"event_type", "group_type"})


class ScopeIgnoredError(AmplitudeAPIError):
    """A per-event-type (or per-group-type) answer holds items of another type."""


def check_scoped_items(
    items: list[dict[str, Any]], key: str, requested: str, stream: str
) -> list[dict[str, Any]]:
    """``items`` when every one carries ``key`` == ``requested``; else :class:`ScopeIgnoredError`.

    The docs' answers carry the type on every item ("event_type": "Onboard Start"); an item
    without it, or with another, is what a server that ignored the parameter returns (the
    shared properties), and filing those under ``requested`` would be silently wrong data.
    """
    wrong = [item for item in items if item.get(key) != requested]
    if wrong:
        seen = sorted({repr(item.get(key)) for item in wrong})
        msg = (
            f"{stream}: asked for the properties of {key} {requested!r}, but Amplitude answered "
            f"{len(wrong)} of {len(items)} item(s) with {key} {', '.join(seen[:5])}: the server "
            f"ignored the {key} parameter (sent as a form body and as a query parameter). "
            "Nothing of this stream was filed under the wrong type; please report this to the "
            "tap's maintainers."
        )
        raise ScopeIgnoredError(msg)
    return items


class _TaxonomyStream(AmplitudeStream):
    replication_key = None
    # The body, when there is one, is a form (application/x-www-form-urlencoded), as in the docs.
    payload_as_json = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._params: dict[str, Any] = {}
        self.plan_gated = False

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Each attempt spends one unit of the hourly cost budget first (waiting if needed)."""
        budget = self._amplitude_tap.taxonomy_budget

        def paced(*args: Any, **kwargs: Any) -> requests.Response:
            waited = budget.spend()
            if waited:
                self.logger.info(
                    "%s: waited %.0fs to stay within the Taxonomy API's %d cost per hour",
                    self.name,
                    waited,
                    budget.per_hour,
                )
            return func(*args, **kwargs)

        return super().request_decorator(paced)

    def act_on(self, rule: Rule, response: requests.Response) -> None:
        """Remember a tolerated plan gate (the stream stops asking)."""
        if rule.action is Action.TOLERATE:
            self.plan_gated = True
        super().act_on(rule, response)

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: Any,
    ) -> dict[str, Any]:
        """The query of the request in flight (``event_type``/``group_type`` included)."""
        return dict(self._params)

    @override
    def prepare_request_payload(
        self,
        context: Context | None,
        next_page_token: Any,
    ) -> dict[str, Any] | None:
        """``event_type``/``group_type`` as a form body of the GET, as the docs send them."""
        form = {k: v for k, v in self._params.items() if k in BODY_PARAMETERS}
        return form or None

    def fetch(self, path: ApiPath, context: Context | None, **params: Any) -> list[dict[str, Any]]:
        """Every item of one request (none when the plan gates it)."""
        self.path, self._params = path.value, params
        try:
            return list(self.request_records(context))
        finally:
            self.path, self._params = type(self).path, {}


class TaxonomyCategoriesStream(_TaxonomyStream):
    """Event categories (/api/2/taxonomy/category)."""

    name = "taxonomy_categories"
    path = ApiPath.TAXONOMY_CATEGORY.value
    primary_keys = ("id",)


class TaxonomyEventTypesStream(_TaxonomyStream):
    """Event types (/api/2/taxonomy/event), deleted ones flagged ``deleted``."""

    name = "taxonomy_event_types"
    path = ApiPath.TAXONOMY_EVENT.value
    primary_keys = ("event_type",)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every visible event type, deleted or not."""
        current = {item.get("event_type") for item in self.fetch(ApiPath.TAXONOMY_EVENT, context)}
        if self.plan_gated:
            return
        for item in self.fetch(ApiPath.TAXONOMY_EVENT, context, showDeleted="true"):
            yield {**item, "deleted": item.get("event_type") not in current}


class TaxonomyEventPropertiesStream(_TaxonomyStream):
    """Event properties per event type, and the shared ones (``event_type`` "")."""

    name = "taxonomy_event_properties"
    path = ApiPath.TAXONOMY_EVENT_PROPERTY.value
    primary_keys = ("event_type", "event_property")

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The shared properties, then each event type's."""
        shared = self.fetch(ApiPath.TAXONOMY_EVENT_PROPERTY, context)
        if self.plan_gated:
            return
        for item in shared:
            yield {**item, "event_type": item.get("event_type") or ""}
        names = [
            str(item["event_type"])
            for item in self.fetch(ApiPath.TAXONOMY_EVENT, context)
            if item.get("event_type")
        ]
        for name in names:
            try:
                items = self.fetch(ApiPath.TAXONOMY_EVENT_PROPERTY, context, event_type=name)
            except ItemGoneError as exc:
                self.logger.warning("%s: event type %r skipped: %s", self.name, name, exc)
                continue
            yield from check_scoped_items(items, "event_type", name, self.name)


class TaxonomyUserPropertiesStream(_TaxonomyStream):
    """User properties (/api/2/taxonomy/user-property), deleted ones included (``deleted``)."""

    name = "taxonomy_user_properties"
    path = ApiPath.TAXONOMY_USER_PROPERTY.value
    primary_keys = ("user_property",)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every visible user property, deleted or not."""
        for item in self.fetch(ApiPath.TAXONOMY_USER_PROPERTY, context, showDeleted="true"):
            yield {**item, "deleted": bool(item.get("deleted"))}


class TaxonomyGroupPropertiesStream(_TaxonomyStream):
    """Group properties of every group type (/api/2/taxonomy/group-property)."""

    name = "taxonomy_group_properties"
    path = ApiPath.TAXONOMY_GROUP_PROPERTY.value
    primary_keys = ("group_type", "group_property")

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every group property, keyed with its group type."""
        for item in self.fetch(ApiPath.TAXONOMY_GROUP_PROPERTY, context):
            yield {**item, "group_type": item.get("group_type") or ""}
