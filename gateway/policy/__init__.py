"""The policy boundary: Casbin decides every release (release) and every call (api).

release   the release policy: (relation, category, window, state, ...) -> effect; compiled
          into a decision table and checked against the guarantees on every load
api       the API policy: (role, rpc, relation to the warrant) -> allowed; ApiGuard
rules     where the rules come from (the RuleSource interface) and their text form
live      the policies in force, swapped whole when the rules change
enforcer  what both share with Casbin
"""
