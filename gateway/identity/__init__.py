"""Who is who: principals, the roles bound to them (roles), and the development PKI (pki)."""
