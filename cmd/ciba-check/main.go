// Command ciba-check tests OpenID Providers that implement CIBA under the
// FAPI-CIBA profile. All logic lives in internal/cli; main only exits with
// the code it returns.
package main

import (
	"os"

	"github.com/ciba-check/ciba-check/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.System()))
}
