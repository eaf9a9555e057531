"""The release pipeline: from a store's records to audited batches of minimized records.

pipeline    ReleaseRun: decide every record (Casbin), pseudonymize, audit each batch
            write-ahead, re-check the warrant between batches, end with a signed checkpoint
items       what a release yields: Started, Batch, Summary
pseudonyms  per-warrant keyed pseudonyms for third parties
"""
