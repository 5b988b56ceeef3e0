-- Loaded after warehouse.sql: what a privacy team and a growth team keep next to the models.
-- An erasure-requests table (GDPR/CCPA, synced incrementally by requested_at) and a cohort model
-- (a view: its rows are the cohort's members, mirrored on every sync).
CREATE TABLE analytics.erasure_requests (
    request_id    integer PRIMARY KEY,
    user_id       text NOT NULL,
    requested_at  timestamptz NOT NULL
);
INSERT INTO analytics.erasure_requests
SELECT g, 'customer-' || lpad((30 + g)::text, 4, '0'),
       TIMESTAMPTZ '2026-11-20 08:00:00+00' + g * INTERVAL '1 hour'
FROM generate_series(1, 5) AS g;

CREATE VIEW analytics.vip_customers AS
SELECT 'customer-' || lpad(c.id::text, 4, '0') AS user_id, c.plan
FROM raw.customers c
WHERE c.plan IN ('pro', 'enterprise');
