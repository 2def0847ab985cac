"""Delivering secrets to the apps that use them.

The state is where secrets are kept, never where apps read them. A client's `deliver:` targets (or
the environment's `delivery.defaults`) say where its bundle goes: a sops-encrypted Kubernetes Secret
manifest for that delivery's own recipients, an External Secrets manifest, a command's stdin
(which may put it in any secret store), or a pipe. Each module holds one part:

- `declared`: the targets as declared, checked against dcrsync.yaml (roots, recipient sets). Pure.
- `presets`: where bundle values come from, and the key names of the presets. Pure.
- `bundle`: a bundle from a client's values; its text formats (json, env, dotenv). Pure.
- `hashes`: the keyed hash of one delivery, kept in the state. Pure.
- `manifests`: the Kubernetes documents a file target writes. Pure.
- `planning`: what a plan will deliver where. Pure.
- `endpoints`: issuer, token endpoint and discovery URL read from the server's metadata.
- `writers`: each target's write and its look at what is there now.
- `hook`: what an apply delivers, right after the create or rotation it follows.
- `runner`: delivering and checking a project's deliveries from the state.

When a declared rotation (`rotate: {max_age: …}`) is due is the plan's business: `dcrsync.plan.rotation`.

May import: the ground, load, state, net, backends, plan.
"""
