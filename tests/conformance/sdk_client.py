"""The official Amplitude Python SDK (amplitude-analytics), pointed at the emulator.

The SDK is the judge here: nobody on this project wrote it, so what it sends is what
Amplitude's own clients send, and its callbacks say how it read the emulator's answers.
Every wait is on the SDK's callbacks (one per event, with the final status code); the
timeout is only a deadline for a failure message, never part of the logic.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from amplitude import Amplitude, BaseEvent, Config

CALLBACK_DEADLINE_S = 30


class SdkClient:
    """One SDK client; ``results[insert_id]`` lists the (code, message) of each callback."""

    def __init__(
        self,
        base_url: str,
        *,
        use_batch: bool,
        min_id_length: int | None = None,
        api_key: str = "key-std",
    ) -> None:
        self.path = "/batch" if use_batch else "/2/httpapi"
        self.results: dict[str, list[tuple[int, str | None]]] = {}
        self._done = threading.Condition()
        config = Config(
            use_batch=use_batch,
            server_url=base_url + self.path,
            min_id_length=min_id_length,
            flush_interval_millis=50,  # the SDK's own consumer also sends promptly
            flush_max_retries=3,
            callback=self._on_result,
        )
        self.client = Amplitude(api_key, config)

    def _on_result(self, event: BaseEvent, code: int, message: str | None) -> None:
        with self._done:
            self.results.setdefault(str(event.insert_id), []).append((code, message))
            self._done.notify_all()

    def wait(self, *insert_ids: str) -> dict[str, int]:
        """Flush, then wait until every listed event had its callback (an insert_id listed
        twice waits for two); returns the last code per insert_id."""
        wanted = Counter(insert_ids)
        self.client.flush()

        def arrived() -> bool:
            return all(len(self.results.get(i, [])) >= n for i, n in wanted.items())

        with self._done:
            if not self._done.wait_for(arrived, timeout=CALLBACK_DEADLINE_S):
                missing = [i for i, n in wanted.items() if len(self.results.get(i, [])) < n]
                raise AssertionError(f"no SDK callback for {missing} in {CALLBACK_DEADLINE_S}s")
            return {i: self.results[i][-1][0] for i in wanted}

    def track(self, event_type: str, insert_id: str, **fields: Any) -> int:
        """Track one event and return the SDK's status code for it."""
        self.client.track(BaseEvent(event_type, insert_id=insert_id, **fields))
        return self.wait(insert_id)[insert_id]

    def close(self) -> None:
        self.client.shutdown()
