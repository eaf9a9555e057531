-- depends: 0008_instrument_tier
-- The overbreadth review (issue 15): the dry run's figures at submission (JSON), and who
-- approved first when they ask for a second reviewer. The same columns as SQLite's 0003.
ALTER TABLE warrants ADD COLUMN IF NOT EXISTS review TEXT;
ALTER TABLE warrants ADD COLUMN IF NOT EXISTS first_approved_by TEXT;
