"""What dcrsync does not take on trust, as pure rules every layer applies: where requests may go
(`trust`), what a server answered, decoded into the shape expected or refused in one line
(`answers`), text from outside made inert where it is shown (`inert`), and values read from the
environment, never printed (`masking`).

Part of the ground. May import: errors.
"""
