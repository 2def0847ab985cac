"""A project opened and its plan made: the I/O edge of the pure pipeline. Which project this is
(`identity`); its clients loaded and checked by lint, the policy, the environments and the delivery
settings (`clients`); opening it: config, state store, sops, backend (`opening`); its plan made
against the live clients, and the plan an apply carries out (`planning`), or made against the
state's view of them (`norefresh`, `plan --refresh=false`).

May import: the ground, load, state, net, backends, lint, plan, policy, deliver.
"""
