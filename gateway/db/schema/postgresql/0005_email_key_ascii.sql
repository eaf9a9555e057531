-- depends: 0004_request_ids
-- E-mail addresses are compared with only their ASCII letters folded (gateway.stores.reference.
-- records.email_key): Unicode case folding merged different addresses (the Kelvin sign K and k).
-- lower() under the "C" collation folds ASCII letters only.
UPDATE accounts SET email_key = lower(btrim(email) COLLATE "C") WHERE email IS NOT NULL;
