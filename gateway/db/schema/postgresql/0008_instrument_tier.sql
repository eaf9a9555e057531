-- depends: 0007_release_indexes
-- The release policy's request has a seventh field, the instrument's tier (issue 15): a rule
-- row has one more column. Rules stored before it keep their meaning for search warrants (the
-- tier every request had): a withhold row covers every tier ('*'), a release row only search
-- warrants, so no other tier is released anything until the rules say so (the guarantee check
-- would refuse a release row covering every tier: a subscriber-data request reaching content).
ALTER TABLE casbin_rule ADD COLUMN IF NOT EXISTS v9 TEXT;
UPDATE casbin_rule
   SET v9 = v8, v8 = v7, v7 = v6,
       v6 = CASE WHEN v6 = 'withhold' THEN '*' ELSE 'search_warrant' END
 WHERE policy = 'release' AND ptype = 'p' AND v8 IS NOT NULL AND v9 IS NULL;
