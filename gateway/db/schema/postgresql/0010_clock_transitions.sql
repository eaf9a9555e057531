-- depends: 0009_overbreadth_review
-- Deadline clocks (issue 15): a clock's passing is audited once, by whichever replica sees it
-- first: the key refuses the second in the same transaction as its entry. The same table as
-- SQLite's 0004.
CREATE TABLE IF NOT EXISTS clock_transitions (
    warrant TEXT NOT NULL,
    clock TEXT NOT NULL,
    due_at TEXT NOT NULL,
    PRIMARY KEY (warrant, clock)
);
