package load

import (
	"fmt"
	"strconv"
	"strings"
)

// EnvJobCompletionIndex is set by Kubernetes in each pod of an Indexed Job
// (completionMode: Indexed); a shard without an explicit index takes it.
const EnvJobCompletionIndex = "JOB_COMPLETION_INDEX"

// Shard is one of Count parts of a fleet run; Index is 0-based, as
// JOB_COMPLETION_INDEX is.
type Shard struct {
	Index, Count int
}

// Whole is the run that is not split.
var whole = Shard{Index: 0, Count: 1}

// ParseShard reads "i/n" (0 <= i < n). "/n" takes i from getenv
// (JOB_COMPLETION_INDEX); empty means the whole run.
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return whole, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want i/n, e.g. 0/4, or /n to take i from %s", s, EnvJobCompletionIndex)
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil || n < 1 {
		return Shard{}, fmt.Errorf("shard %q: the shard count %q is not a whole number >= 1", s, ns)
	}
	is = strings.TrimSpace(is)
	src := "index"
	if is == "" {
		if getenv != nil {
			is = strings.TrimSpace(getenv(EnvJobCompletionIndex))
		}
		if is == "" {
			return Shard{}, fmt.Errorf("shard %q: no index given and %s is not set", s, EnvJobCompletionIndex)
		}
		src = EnvJobCompletionIndex
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: %s %q must be a whole number from 0 to %d", s, src, is, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Split returns this shard's part of total items (at least 1): the first
// total%Count shards take one more.
func (s Shard) Split(total int) int {
	if s.Count <= 1 {
		return total
	}
	part := total / s.Count
	if s.Index < total%s.Count {
		part++
	}
	return max(part, 1)
}
