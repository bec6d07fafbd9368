-- Differentially private demand insights (services/insights.py): the privacy budget each
-- account has spent per period, and every release, so an identical query in the same
-- period is answered from here instead of spending again.

CREATE TABLE insight_budgets (
    account        text NOT NULL,            -- 'vendor:<id>' or 'operators' (one shared budget)
    period_start   date NOT NULL,            -- Monday (UTC) of the calendar week
    epsilon_spent  double precision NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, period_start)
);

CREATE TABLE insight_releases (
    account       text NOT NULL,
    period_start  date NOT NULL,
    query         text NOT NULL,             -- the normalised query (category|area|weeks)
    release       jsonb NOT NULL,
    epsilon       double precision NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, period_start, query),
    FOREIGN KEY (account, period_start) REFERENCES insight_budgets (account, period_start)
        ON DELETE CASCADE
);
