// The Vault server built from its upstream Go module, for dcrsync's tests of the vault-kv2
// delivery target (a dev server on 127.0.0.1). Vault's main module replaces its api and sdk
// modules with local folders, which a dependency cannot do: this module requires them as
// separate versions instead (see go.mod).
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
