"""Planning: git (the ClientSpecs) against the server (live clients) and the state (the last apply),
as data. Pure: no I/O. The diff (`diff`: matching and refusing), one client's fields three ways
(`fields`), the change each client needs (`changes`), what leaves git (`departures`), whose client a
live one is (`ownership`), what differs inside a field (`describe`), undeclared edits made on the server
(`undeclared`), declared rotations that are due (`rotation`), the plan itself with its checksum and
JSON (`plan`), a saved plan's environment references (`envplan`), and drift (`drift`).

Loading gives the config's safety rule and `${env:…}` references; the state, its records (data).
May import: the ground, load, state.
"""
