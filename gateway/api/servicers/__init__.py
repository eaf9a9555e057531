"""One servicer per service of wsg.v1: authenticate, authorize (ApiGuard), call the domain."""
