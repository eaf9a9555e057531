"""Database plumbing shared by the backends and the stores: pools, readers, migrations.

postgres  the connection pool (psycopg 3, psycopg_pool), errors that fail closed
sqlite    one read connection per thread
migrate   the schema's one source: yoyo migrations in schema/, per database
"""
