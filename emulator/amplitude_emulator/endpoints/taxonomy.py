"""The Taxonomy API's read side, GET /api/2/taxonomy/... (taxonomy.py holds the plan and limits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amplitude_emulator.taxonomy import body_or_query, error_body

if TYPE_CHECKING:
    from amplitude_emulator.server import EmulatorHandler
    from amplitude_emulator.store import Project


def taxonomy(handler: EmulatorHandler, project: Project) -> None:
    if not project.taxonomy_enabled:
        # Docs: "The Taxonomy API requires an Enterprise plan account. If your
        # subscription doesn't qualify, the call results in a 404 Bad Request response."
        handler.send_json(404, error_body("Bad Request"))
        return
    limits = project.taxonomy_limits
    refused = limits.enter()
    if refused is not None:
        handler.send_json(429, error_body(refused))
        return
    try:
        taxonomy = project.taxonomy()
        show_deleted = handler.query.get("showDeleted", "").lower() == "true"
        path = handler.route_path
        data: list[dict[str, Any]] | None
        if path.endswith("/category"):
            data = list(taxonomy.categories)
        elif path.endswith("/event"):
            data = taxonomy.events_body(show_deleted)
        elif path.endswith("/event-property"):
            data = taxonomy.event_properties_body(_field(handler, project, "event_type"))
        elif path.endswith("/user-property"):
            data = taxonomy.user_properties_body(show_deleted)
        else:
            data = taxonomy.group_properties_body(_field(handler, project, "group_type"))
        if data is None:
            handler.send_json(400, error_body("Not found"))
        else:
            handler.send_json(200, {"success": True, "data": data})
    finally:
        limits.leave()


def _field(handler: EmulatorHandler, project: Project, name: str) -> str | None:
    """event_type / group_type: from the form body of the GET, as the docs send it, else from
    the query string (third-party clients); see taxonomy.body_or_query."""
    return body_or_query(
        handler.body,
        handler.headers.get("Content-Type", ""),
        handler.query,
        name,
        project.taxonomy_reads,
    )
