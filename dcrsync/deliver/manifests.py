"""The Kubernetes documents the file targets write. Pure.

A `kubernetes-secret` is a `v1/Secret` whose `stringData` sops encrypts (only `data`/`stringData`, as
Flux's kustomize-controller and KSOPS expect), so its metadata stays readable: the delivery's keyed
hash rides in an annotation, and `deliver --check` reads it without any key. An `external-secret` is
an External Secrets Operator `ExternalSecret` naming a store path: no secret inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from dcrsync.deliver.declared import Target

#: the annotation holding the delivery's keyed hash
HASH_ANNOTATION = "dcrsync.io/delivery"
#: the annotation naming the client, for whoever finds the file
CLIENT_ANNOTATION = "dcrsync.io/client"
#: what sops encrypts in a Secret manifest
ENCRYPTED_REGEX = "^(data|stringData)$"
EXTERNAL_SECRETS_API = "external-secrets.io/v1"


def _metadata(target: Target, digest: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": target.settings["secret_name"], "namespace": target.settings["namespace"]}
    labels = target.settings.get("labels")
    if labels:
        meta["labels"] = {str(k): str(v) for k, v in labels.items()}
    meta["annotations"] = {CLIENT_ANNOTATION: target.client, HASH_ANNOTATION: digest}
    return meta


def secret(target: Target, values: Mapping[str, str], digest: str) -> dict[str, Any]:
    """The `v1/Secret` (plaintext: sops encrypts its stringData before it reaches the disk)."""
    return {
        "apiVersion": "v1", "kind": "Secret", "metadata": _metadata(target, digest), "type": "Opaque",
        "stringData": dict(values),
    }


def external_secret(target: Target, digest: str) -> dict[str, Any]:
    """The `ExternalSecret`: each bundle key read from the store path's property of the same name."""
    store = target.settings["store"]
    ref = {"name": store["name"], "kind": store.get("kind") or "SecretStore"} if isinstance(store, dict) else {
        "name": str(store), "kind": "SecretStore"}
    return {
        "apiVersion": EXTERNAL_SECRETS_API, "kind": "ExternalSecret", "metadata": _metadata(target, digest),
        "spec": {
            "refreshInterval": str(target.settings.get("refresh_interval") or "1h"),
            "secretStoreRef": ref,
            "target": {"name": target.settings["secret_name"], "creationPolicy": "Owner"},
            "data": [
                {"secretKey": key, "remoteRef": {"key": str(target.settings["remote_key"]), "property": key}}
                for key in target.keys
            ],
        },
    }


def dump(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


def read_annotation(text: bytes) -> str | None:
    """The delivery hash of a manifest on disk (readable without a key), or None when it has none."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    meta = doc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    value = annotations.get(HASH_ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def sops_recipients(text: bytes) -> list[str]:
    """The age recipients a sops file on disk is encrypted for (its metadata is plain)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    meta = doc.get("sops") if isinstance(doc, dict) else None
    ages = meta.get("age") if isinstance(meta, dict) else None
    return sorted(str(a.get("recipient")) for a in ages or [] if isinstance(a, dict) and a.get("recipient"))
