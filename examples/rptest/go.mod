// An outside project's tests, as an RP developer would write them: they
// import only the public reference-op/refoptest package (the replace
// directive stands in for a released version).
module example.com/rptest

go 1.26.8

require (
	github.com/ciba-check/ciba-check v0.0.0
	github.com/go-jose/go-jose/v4 v4.1.9
)

require (
	github.com/goccy/go-yaml v1.19.2 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/ciba-check/ciba-check => ../..
