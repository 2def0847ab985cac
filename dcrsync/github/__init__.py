"""The GitHub integration: a small REST client (`client`), the sticky pull-request comment and the
drift issue (`sync`), and the queue of merged pull requests' reviewed plans (`merges`).

Loading gives its YAML with line marks. May import: the ground, load, net.
"""
