-- depends: 0002_quotes_labels_topics
-- E-mail addresses are compared with only their ASCII letters folded (gateway.stores.reference.
-- records.email_key): Unicode case folding merged different addresses (the Kelvin sign K and k).
-- SQLite's lower() folds ASCII letters only.
UPDATE accounts SET email_key = lower(trim(email, ' ')) WHERE email IS NOT NULL;
