"""One harness per server family, so one behaviour suite (tests/test_behaviour.py) runs on all.

Each family module exposes `envs()` -> list of (label, factory) where the factory is a context
manager `factory(workdir: Path) -> Iterator[BackendEnv]` that starts (or reuses) the real server.
"""
