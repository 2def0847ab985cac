// Command hydra builds the upstream Ory Hydra server from its Go module so the
// dcrsync test suite can run it against a real server. Built by scripts/build-hydra.sh.
package main

import "github.com/ory/hydra/v2/cmd"

func main() { cmd.Execute() }
