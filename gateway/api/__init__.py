"""The gRPC edge: wiring (server), thin servicers, identity (auth), wire <-> domain (convert),
error translation (calls), the client the CLI uses, and the generated code (v1)."""
