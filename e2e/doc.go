// Package e2e holds end-to-end tests of the reference OP and the mock
// device, driven from the outside over real TLS on loopback: the embedded
// environment (internal/devenv) is started as `ciba-check serve` starts it
// and exercised through the CIBA client (internal/client) only. The tests
// never import the reference OP's validation code, so a bug there cannot
// hide in the tests too.
package e2e
