"""Applying: the writes to a server and what is recorded of them. The Applier carries a plan out
(`applier`); every answer is checked (`answercheck`) and journaled, then folded into the state once
(`recorder`). Besides plans: clients brought under dcrsync (`adopt`, and the files it writes:
`clientfiles`), secrets rotated or set and a lost state recovered (`restore`), the server's values
accepted as the baseline (`refresh`), and a secret tried against the token endpoint (`tokencheck`).

May import: the ground, load, state, net, backends, lint, plan, policy, deliver, project.
"""
