"""The `vault-kv2` target: the bundle as a Vault KV v2 secret, through hvac (`pip install
'dcrsync[vault]'`). The delivery's keyed hash goes into the secret's custom metadata, so `--check`
reads it without reading the secret. Address and token come from dcrsync.yaml's `delivery.vault`
(`address`, `token_env`) or Vault's own variables (VAULT_ADDR, VAULT_TOKEN).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dcrsync.deliver.declared import Settings, Target
from dcrsync.deliver.writers import DeliveryError, Seen

HASH_KEY = "dcrsync-delivery"
#: the version dcrsync wrote: a later version (someone wrote the path since) is not the delivery
VERSION_KEY = "dcrsync-version"


def _client(settings: Settings) -> Any:
    try:
        import hvac
    except ImportError:
        raise DeliveryError("vault-kv2 needs the Python module 'hvac': pip install 'dcrsync[vault]'") from None
    conf = settings.vault
    address = conf.get("address") or os.environ.get("VAULT_ADDR")
    token_env = conf.get("token_env") or "VAULT_TOKEN"
    token = os.environ.get(token_env)
    if not address:
        raise DeliveryError("vault-kv2 needs Vault's address: set delivery.vault.address in dcrsync.yaml or VAULT_ADDR")
    if not token:
        raise DeliveryError(f"vault-kv2 needs a Vault token in the environment variable {token_env}")
    return hvac.Client(url=address, token=token, namespace=conf.get("namespace"), timeout=30)


def _where(target: Target, settings: Settings) -> tuple[str, str]:
    return str(target.settings.get("mount") or settings.vault.get("mount") or "secret"), str(target.settings["path"])


def _failed(target: Target, exc: Exception) -> DeliveryError:
    return DeliveryError(f"{target.client}: Vault refused {target.where}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")


def write(target: Target, values: Mapping[str, str], digest: str, settings: Settings) -> None:
    import hvac.exceptions
    import requests

    client = _client(settings)
    mount, path = _where(target, settings)
    kv = client.secrets.kv.v2
    try:
        written = kv.create_or_update_secret(path=path, secret=dict(values), mount_point=mount)
        version = str(((written or {}).get("data") or {}).get("version") or "")
        kv.update_metadata(path=path, mount_point=mount, custom_metadata={HASH_KEY: digest, VERSION_KEY: version})
    except (hvac.exceptions.VaultError, requests.RequestException) as exc:
        raise _failed(target, exc) from None


def seen(target: Target, settings: Settings) -> Seen:
    import hvac.exceptions
    import requests

    try:
        client = _client(settings)
        mount, path = _where(target, settings)
        meta = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)
    except hvac.exceptions.InvalidPath:
        return Seen("missing")
    except (DeliveryError, hvac.exceptions.VaultError, requests.RequestException) as exc:
        return Seen("unreadable", note=str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
    data = (meta or {}).get("data") or {}
    versions = data.get("versions") or {}
    current = versions.get(str(data.get("current_version"))) or {}
    if current.get("deletion_time") or current.get("destroyed"):
        return Seen("missing")
    custom = data.get("custom_metadata") or {}
    if custom.get(VERSION_KEY) != str(data.get("current_version")):
        return Seen("present", custom.get(HASH_KEY), note="written by someone else since dcrsync delivered it")
    return Seen("present", custom.get(HASH_KEY))
