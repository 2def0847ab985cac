"""Loading: `dcrsync.yaml` and the client files read into a `Config` and `ClientSpec`s, every problem a
`FILE:LINE:COL` diagnostic. YAML with line marks (`yamlsource`), `${env:…}` / `${var:…}` substitution
(`substitute`, `envrefs`), the JSON Schema check (`schemacheck`, compiled for the files that pass:
`fastcheck`), input kept inside the project (`bounds`), the cache of unchanged files (`clientcache`,
`gcpause`), and the way back: a live client written as a client file (`export`). Pure but for reading
the project's files.

May import: the ground (errors, families, guards, model) only.
"""
