"""What the tests share: one module a job, none of them a test.

- project: a throwaway dcrsync project (`Project`, `make_project`, `AgeKey`)
- clients: client declarations several per-family files start from
- hydra_api: direct calls to the real Hydra (check what dcrsync did, change things behind its back)
- crash: kill an apply with SIGKILL at a chosen moment
- secrets_scan: find plaintext secrets in files
- unit_helpers: write, load and lint client files for the validate-stack unit tests
- github_stub: a STUB of the GitHub REST endpoints dcrsync uses (GitHub cannot be reached here)

The real-server launchers stay in tests/servers/ (scripts/demo.py and the benches use them too) and
the per-family adapters of the behaviour suite in tests/harness/.
"""
