"""The Amplitude endpoints by API family, each a function of the request's handler.

server.py parses a request, finds its route in ``READ_ROUTES``/``WRITE_ROUTES`` (or the admin,
cohort download and control routes) and calls one of these functions with the handler, whose
helpers (``send_json``, ``authenticate``, ``status_fault``, ``drop``, ...) answer the client:

- ingest.py      /batch, /2/httpapi, /identify, /groupidentify (the write side)
- export.py      /api/2/export
- dashboard.py   /api/2/users, /api/2/sessions/average, /api/2/events/list, annotations
- cohorts.py     /api/3/cohorts and the cohort download (/api/5/cohorts/..., its S3 link)
- taxonomy.py    /api/2/taxonomy/...
- user_admin.py  /usermap, /api/2/deletions/users, /api/3/cohorts/upload and /membership
- control.py     /_emulator/... (the test control and inspection API)

The state and rules of each family live beside: ../dashboard.py, ../taxonomy.py,
../user_admin.py, ../cohort_download.py, ../export.py, ../ingest_validation.py.
"""

# Bodies are written in pieces of this size (a memoryview slice each, no copies).
SEND_CHUNK = 1 << 20
