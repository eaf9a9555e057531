"""The audit log as a transparency log: what is written, how it is proven, how it is checked.

events       every kind of entry, its fields and who may read it (the log's schema)
entries      the one entry builder: event fields, then the chain fields
log          the AuditLog interface both backends implement
canonical    the canonical JSON byte form of entries and released records
tree         the RFC 6962 Merkle tree
notes        C2SP signed notes and tlog checkpoints (Ed25519)
checkpoints  signing checkpoints, keeping them, exporting them to witnesses
proofs       the JSON shapes of inclusion and consistency proofs
verify       offline verification of a whole log (`wsg audit verify`)
log_copy     proofs from a copy of the log with no server
files        reading an embedded log file
evidence     checking an evidence package with no server
"""
