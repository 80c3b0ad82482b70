// Package citest lints the CI surfaces, action.yml and
// .github/workflows, with actionlint used as a library (tests only), so a
// broken workflow fails `go test`. It lives apart from package reports so
// that the reports test binary, which FuzzDecode instruments, does not
// link actionlint.
package citest
