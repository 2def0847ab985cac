"""The state and its stores: what the last apply recorded, and where it is kept.

The state as data (`records`, the sidecar's shape: `sidecar`; pure), the journal batches and their
MAC (`batches`), the `StateStore` protocol and the sops-encrypted file in git (`store`), the group
commit of journal entries (`groupcommit`), the only code that runs sops (`sops`), and the shared
stores: PostgreSQL (`postgres`), S3 (`s3`), what they share (`shared`), and `open_store` (`stores`).

Loading's `Config` is what a store is opened from; the S3 store talks HTTP through `dcrsync.net`'s one
client factory (deadline, size cap, trust). May import: the ground, load, net.
"""
