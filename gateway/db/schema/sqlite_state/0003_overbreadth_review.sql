-- depends: 0002_request_ids
-- The overbreadth review (issue 15): the dry run's figures at submission (JSON), and who
-- approved first when they ask for a second reviewer. The same columns as PostgreSQL's 0009.
ALTER TABLE warrants ADD COLUMN review TEXT;
ALTER TABLE warrants ADD COLUMN first_approved_by TEXT;
