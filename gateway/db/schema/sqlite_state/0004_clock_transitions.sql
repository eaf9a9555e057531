-- depends: 0003_overbreadth_review
-- Deadline clocks (issue 15): a clock's passing is audited once; this key says whether it was.
-- The same table as PostgreSQL's 0010.
CREATE TABLE clock_transitions (
    warrant TEXT NOT NULL,
    clock TEXT NOT NULL,
    due_at TEXT NOT NULL,
    PRIMARY KEY (warrant, clock)
);
