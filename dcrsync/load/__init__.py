"""Loading: `dcrsync.yaml` and the client files read into a `Config` and `ClientSpec`s, every problem a
`FILE:LINE:COL` diagnostic. YAML with line marks (`yamlsource`; its values built by `yamlvalues`),
`${env:…}` / `${var:…}` substitution (`substitute`, `envrefs`), the JSON Schema check (`schemacheck`,
compiled for the files that pass: `fastcheck`); the client files found (`files`), each document made a
ClientSpec (`document`), all of them read (`clients`) inside the project's bounds (`bounds`) through
the cache of unchanged files (`clientcache`, `gcpause`); dcrsync.yaml read as a document
(`configfile`) and built into a Config (`config`); and the way back: a live client written as a client
file (`export`). Pure but for reading the project's files.

May import: the ground.
"""
