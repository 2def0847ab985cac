"""The command line's commands, one module each (`dcrsync.cli` imports a command's module only when it
runs): open the project, make one call into the pipeline, render, set the exit code.

May import: every folder.
"""
