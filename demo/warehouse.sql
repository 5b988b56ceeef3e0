-- A small warehouse as a reverse-ETL user has it: raw tables, and views as the "models" that
-- are synced to Amplitude (the Census workflow). Deterministic: no random().
CREATE SCHEMA raw;
CREATE SCHEMA analytics;

CREATE TABLE raw.accounts (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    industry   text,
    seats      integer NOT NULL,
    mrr        numeric(12, 2) NOT NULL
);
INSERT INTO raw.accounts
SELECT g, 'Account ' || g,
       (ARRAY['Retail', 'Media', 'Fintech', 'Health'])[1 + g % 4],
       5 * g, 99.5 * g
FROM generate_series(1, 8) AS g;

CREATE TABLE raw.customers (
    id          integer PRIMARY KEY,
    email       text NOT NULL,
    plan        text NOT NULL,
    account_id  integer REFERENCES raw.accounts (id),
    signed_up   date NOT NULL,
    trial_ends  date,
    logins      integer NOT NULL,
    tags        text NOT NULL
);
INSERT INTO raw.customers
SELECT g, 'user' || g || '@example.com',
       (ARRAY['free', 'trial', 'pro', 'enterprise'])[1 + g % 4],
       1 + g % 8,
       DATE '2025-06-01' + g,
       CASE WHEN g % 4 = 1 THEN DATE '2026-12-01' + g END,
       g % 7,
       (ARRAY['beta', 'newsletter', 'vip'])[1 + g % 3]
FROM generate_series(1, 40) AS g;

CREATE TABLE raw.orders (
    id           integer PRIMARY KEY,
    customer_id  integer NOT NULL,
    amount       numeric(12, 2) NOT NULL,
    sku          text NOT NULL,
    created_at   timestamptz NOT NULL
);
INSERT INTO raw.orders
SELECT g, 1 + g % 40, round((9.99 + g % 50)::numeric, 2), 'SKU-' || (100 + g % 12),
       TIMESTAMPTZ '2026-11-01 09:00:00+00' + g * INTERVAL '37 minutes'
FROM generate_series(1, 200) AS g;

-- One order whose customer id Amplitude refuses ("n/a"): it must land in the rejected records
-- file with its reason, and cost none of the other orders.
CREATE VIEW analytics.amplitude_users AS
SELECT 'customer-' || lpad(c.id::text, 4, '0') AS user_id,
       c.email,
       c.plan,
       c.signed_up AS signup_date,
       c.trial_ends AS trial_end,
       coalesce(sum(o.amount), 0) AS lifetime_value,
       c.logins,
       c.tags,
       'account-' || c.account_id AS company_id
FROM raw.customers c
LEFT JOIN raw.orders o ON o.customer_id = c.id
GROUP BY c.id;

CREATE VIEW analytics.amplitude_accounts AS
SELECT 'account-' || a.id AS account_id, a.name, a.industry, a.seats, a.mrr
FROM raw.accounts a;

CREATE VIEW analytics.amplitude_orders AS
SELECT 'order-' || o.id AS order_id,
       'customer-' || lpad(o.customer_id::text, 4, '0') AS user_id,
       o.amount, o.sku, o.created_at,
       'account-' || c.account_id AS company_id
FROM raw.orders o
JOIN raw.customers c ON c.id = o.customer_id
UNION ALL
SELECT 'order-bad-1', 'n/a', 1.00, 'SKU-100', TIMESTAMPTZ '2026-11-02 10:00:00+00', 'account-1';
