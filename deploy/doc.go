// Package deploy holds the Kubernetes manifests that run a ciba-check load
// test as a fleet (an Indexed Job of shards and a merge Job, see the
// README's "Load testing" section). It has no Go code; its test decodes the
// manifests strictly into the Kubernetes API types, checks them against
// the repository's Dockerfile, and mounts what `ciba-check init` writes
// as the Job does.
package deploy
