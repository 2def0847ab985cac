"""The deliveries as declared: a client's `deliver:` list, or the environment's `delivery.defaults`,
resolved into `Target`s and checked against dcrsync.yaml (delivery roots, recipient sets). Pure.

A target's `id` is a digest of its whole declaration: a changed key name, path, label or recipient
set is a new delivery, which a plan shows as still to be delivered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcrsync.deliver.presets import preset_keys
from dcrsync.model import ClientSpec, Diagnostic, Location

KUBERNETES_SECRET, EXTERNAL_SECRET, EXEC, STDOUT = "kubernetes-secret", "external-secret", "exec", "stdout"
TARGETS = (KUBERNETES_SECRET, EXTERNAL_SECRET, EXEC, STDOUT)
#: targets that write a file below a delivery root
FILE_TARGETS = frozenset({KUBERNETES_SECRET, EXTERNAL_SECRET})
#: targets a plan, an apply and `deliver` write; `stdout` is read on demand (`deliver --stdout`)
KEPT = frozenset(TARGETS) - {STDOUT}
_K8S_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class Settings:
    """`delivery:` of dcrsync.yaml, after the environment overlay."""

    base_dir: Path
    #: folders (absolute, normalised) file targets may write below
    roots: tuple[str, ...] = ()
    #: recipient set name -> age recipients
    recipients: dict[str, list[str]] = field(default_factory=dict)
    #: targets for every client that declares no `deliver:` of its own
    defaults: tuple[dict[str, Any], ...] = ()
    #: where the server's metadata is read for issuer / token_endpoint / discovery_url (optional)
    issuer: str | None = None
    #: the dcrsync.yaml as messages name it (where `delivery.defaults` are written)
    source: str = "dcrsync.yaml"

    @classmethod
    def of_config(cls, config: Any) -> Settings:
        """From a `dcrsync.load.config.Config` (its `delivery`, folder and file)."""
        source = os.path.relpath(config.path) if config.path is not None else "dcrsync.yaml"
        return cls.of(config.delivery, config.base_dir, source)

    @classmethod
    def of(cls, raw: dict[str, Any] | None, base_dir: Path, source: str = "dcrsync.yaml") -> Settings:
        raw = raw or {}
        roots = tuple(os.path.normpath(base_dir / r) for r in raw.get("roots") or [])
        recipients = {k: list((v or {}).get("age") or []) for k, v in (raw.get("recipients") or {}).items()}
        return cls(base_dir, roots, recipients, tuple(raw.get("defaults") or []), raw.get("issuer"), source)


@dataclass(frozen=True)
class Target:
    """One delivery of one client."""

    client: str
    kind: str
    #: bundle key -> source (client_id, client_secret, issuer, token_endpoint, discovery_url)
    keys: dict[str, str]
    #: the declaration's other settings (path, namespace, recipients, command, …), `{name}` resolved
    settings: dict[str, Any]
    at: Location

    @property
    def id(self) -> str:
        body = {"kind": self.kind, "keys": self.keys, "settings": self.settings}
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def where(self) -> str:
        """Where it goes, as a plan shows it (never a value)."""
        s = self.settings
        if self.kind in FILE_TARGETS:
            return str(s["path"])
        if self.kind == EXEC:
            return " ".join(str(a) for a in s["command"])
        return f"stdout ({s.get('format') or 'dotenv'})"

    def line(self) -> str:
        return f"{self.kind} {self.where}"

    def recipient_sets(self) -> list[str]:
        value = self.settings.get("recipients") or []
        return [value] if isinstance(value, str) else list(value)


def _fill(value: Any, name: str) -> Any:
    """`{name}` in a default's strings is the client's name."""
    if isinstance(value, str):
        return value.replace("{name}", name)
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    return value


def targets_of(spec: ClientSpec, settings: Settings) -> list[Target]:
    """The client's deliveries: its own `deliver:` list, or the environment's defaults when it has
    none (`deliver: []` turns them off). Declarations are assumed valid (see `check`)."""
    own = spec.deliver is not None
    declared = spec.deliver if own else [_fill(d, spec.name) for d in settings.defaults]
    out = []
    for i, decl in enumerate(declared or []):
        at = spec.where_item("deliver", i) if own else Location(f"{settings.source} delivery.defaults[{i}]", 0, 0)
        out.append(resolve(spec.name, _fill(decl, spec.name), at))
    return out


def resolve(client: str, decl: dict[str, Any], at: Location) -> Target:
    keys = dict(preset_keys(decl["preset"], client)) if decl.get("preset") else {}
    keys.update(decl.get("keys") or {})
    settings = {k: v for k, v in decl.items() if k not in ("target", "keys", "preset")}
    if decl["target"] == KUBERNETES_SECRET or decl["target"] == EXTERNAL_SECRET:
        settings.setdefault("secret_name", client)
    return Target(client, decl["target"], keys, settings, at)


def check(specs: list[ClientSpec], settings: Settings) -> list[Diagnostic]:
    """What dcrsync.yaml does not allow: a path outside the delivery roots, a recipient set that is
    not declared or has no recipients, key names the consumer cannot read, two deliveries to one file."""
    out: list[Diagnostic] = []
    files: dict[str, tuple[str, str]] = {}
    for spec in specs:
        try:
            targets = targets_of(spec, settings)
        except (KeyError, ValueError) as exc:  # a default missing what its target needs
            where = Location(f"{settings.source} delivery.defaults", 0, 0)
            out.append(Diagnostic(where, "error", "deliver", f"a target lacks {exc}: fix it"))
            continue
        for target in targets:
            for problem in problems(target, settings):
                out.append(Diagnostic(target.at, "error", "deliver", f"{spec.name}: {problem}"))
            if target.kind in FILE_TARGETS:
                full = os.path.normpath(settings.base_dir / str(target.settings.get("path")))
                other = files.setdefault(full, (spec.name, target.id))
                if other != (spec.name, target.id):
                    out.append(Diagnostic(target.at, "error", "deliver", (
                        f"{spec.name}: {target.settings.get('path')} is written by another delivery "
                        f"({other[0]}) too: give each delivery its own file")))
    return out


def problems(target: Target, settings: Settings) -> list[str]:
    """Everything wrong with one target, one line each (what, and what to do)."""
    out = []
    if not target.keys:
        out.append(f"{target.kind} delivers nothing: give it `keys:` or a `preset:`")
    out += _key_problems(target)
    if target.kind in FILE_TARGETS:
        out += _file_problems(target, settings)
    if target.kind == KUBERNETES_SECRET:
        out += _recipient_problems(target, settings)
    if target.kind == EXEC and not target.settings.get("command"):
        out.append("exec needs `command:`, a list such as [gh, secret, set, OAUTH_BUNDLE] (the bundle comes on stdin)")
    if target.kind == EXTERNAL_SECRET:
        for need in ("store", "remote_key"):
            if not target.settings.get(need):
                out.append(f"external-secret needs `{need}:` (see the README's Delivering secrets)")
    return out


def _key_problems(target: Target) -> list[str]:
    if target.kind in FILE_TARGETS:
        pattern, what = _K8S_KEY, "a Kubernetes Secret key (letters, digits, '-', '_', '.')"
    elif target.kind == STDOUT and (target.settings.get("format") or "dotenv") != "json":
        pattern, what = _ENV_KEY, "an environment variable name (letters, digits, '_'; not starting with a digit)"
    else:
        return []
    return [f"key {k!r} is not {what}: rename it" for k in target.keys if not pattern.match(k)]


def _file_problems(target: Target, settings: Settings) -> list[str]:
    path = str(target.settings.get("path") or "")
    out = []
    if not path.endswith((".yaml", ".yml")):
        out.append(f"{target.kind} `path: {path}` must name a .yaml file")
    full = os.path.normpath(settings.base_dir / path)
    if not settings.roots:
        out.append(f"{target.kind} writes {path}, but dcrsync.yaml declares no `delivery.roots`: add the folder "
                   "manifests may be written below")
    elif not any(full == r or full.startswith(r.rstrip(os.sep) + os.sep) for r in settings.roots):
        roots = ", ".join(os.path.relpath(r, settings.base_dir) for r in settings.roots)
        out.append(f"{target.kind} `path: {path}` is outside the delivery roots ({roots}): move it below one")
    ns = str(target.settings.get("namespace") or "")
    if not _DNS_LABEL.match(ns):
        out.append(f"{target.kind} needs `namespace:`, a DNS label (got {ns!r})")
    name = str(target.settings.get("secret_name") or "")
    if not _DNS_NAME.match(name):
        out.append(f"`secret_name: {name}` is not a Kubernetes object name (lowercase letters, digits, '-', '.')")
    return out


def _recipient_problems(target: Target, settings: Settings) -> list[str]:
    sets = target.recipient_sets()
    if not sets:
        return ["kubernetes-secret needs `recipients:`, a recipient set of dcrsync.yaml's `delivery.recipients` "
                "(the consumer's own keys, e.g. the cluster's Flux key)"]
    out = []
    for name in sets:
        if name not in settings.recipients:
            known = ", ".join(sorted(settings.recipients)) or "none"
            out.append(f"recipient set {name!r} is not in dcrsync.yaml's `delivery.recipients` (declared: {known})")
        elif not settings.recipients[name]:
            out.append(f"recipient set {name!r} has no recipients: a manifest nobody can open is refused")
    return out


def recipients_of(target: Target, settings: Settings) -> list[str]:
    """The age recipients a manifest is encrypted for: the union of its sets, in order."""
    return list(dict.fromkeys(r for s in target.recipient_sets() for r in settings.recipients.get(s, [])))
