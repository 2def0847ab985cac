"""A project opened and its plan made: the I/O edge of the pure pipeline. Which project this is
(`identity`); its clients loaded and checked by lint, the policy, the environments and the delivery
settings (`clients`); opening it (config, state, backend) and making its plan against the live clients
(`project`), or against the state's view of them (`norefresh`, `plan --refresh=false`).

May import: the ground, load, state, net, backends, lint, plan, policy, deliver.
"""
