"""Applying: the writes to a server and what is recorded of them. The Applier carries a plan out
(`applier`), every answer is checked (`answercheck`) and journaled, then folded into the state once
(`recorder`); clients brought under dcrsync or recovered (`adopt`), secrets rotated, set or recovered
(`restore`), the server's values accepted as the baseline (`refresh`), and a secret tried against the
token endpoint (`tokencheck`).

May import: the ground, load, state, net, backends, lint, plan, policy, deliver, project.
"""
